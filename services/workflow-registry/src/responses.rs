//! Synchronous webhooks, the registry's side: callers of a `respond:
//! when_finished` webhook wait here for their execution's WebhookResponse.
//!
//! Every replica subscribes to `echoflow.responses` (its own exclusive
//! queue on RabbitMQ, the in-process bus in `echoflow up`); the executor
//! publishes one answer per execution through its outbox, and the replica
//! that holds a waiter for that execution id completes it; the others drop
//! the message. A waiter is registered before the job is queued, so an
//! answer cannot arrive before someone waits for it, and removed when its
//! request ends for any reason (answered, timed out, client gone). Their
//! number is bounded per replica (`registry.webhook_max_waiting`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use echoflow_bus::topology::RESPONSES_EXCHANGE;
use echoflow_bus::{BusError, Delivery, HandleError, MessageHandler, SharedBus, Subscription};
use echoflow_contracts::WebhookResponse;
use echoflow_domain::WebhookTrigger;
use echoflow_domain::respond::{self, Reply, RespondMode};
use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The header every synchronous answer carries: the execution that made it.
pub const EXECUTION_ID_HEADER: &str = "x-echoflow-execution-id";

/// The callers waiting on this replica, by execution id.
pub struct ResponseWaiters {
    waiting: Mutex<HashMap<Uuid, oneshot::Sender<WebhookResponse>>>,
    max_waiting: usize,
}

/// One caller's wait; dropping it (answered, timed out, request gone)
/// frees its place.
pub struct Waiter {
    execution_id: Uuid,
    answer: oneshot::Receiver<WebhookResponse>,
    waiters: Arc<ResponseWaiters>,
}

impl ResponseWaiters {
    pub fn new(max_waiting: usize) -> Arc<Self> {
        Arc::new(Self {
            waiting: Mutex::new(HashMap::new()),
            max_waiting,
        })
    }

    /// Subscribes to `echoflow.responses` until `stopping`; returns once
    /// the binding is in place, so no answer published later is missed.
    pub async fn subscribe(
        self: &Arc<Self>,
        bus: &SharedBus,
        stopping: CancellationToken,
    ) -> Result<Subscription, BusError> {
        bus.subscribe(RESPONSES_EXCHANGE, "#", self.clone(), stopping)
            .await
    }

    /// A place to wait for `execution_id`'s answer; None when every place is taken.
    pub fn wait_for(self: &Arc<Self>, execution_id: Uuid) -> Option<Waiter> {
        let (sender, answer) = oneshot::channel();
        let mut waiting = self.lock();
        if waiting.len() >= self.max_waiting {
            return None;
        }
        waiting.insert(execution_id, sender);
        Some(Waiter {
            execution_id,
            answer,
            waiters: self.clone(),
        })
    }

    /// How many callers wait now.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    pub fn max_waiting(&self) -> usize {
        self.max_waiting
    }

    /// Hands `response` to its waiter, if this replica holds one.
    fn complete(&self, response: WebhookResponse) {
        let Ok(id) = Uuid::parse_str(&response.execution_id) else {
            return;
        };
        if let Some(sender) = self.lock().remove(&id) {
            // An error only means the caller left meanwhile.
            let _ = sender.send(response);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, oneshot::Sender<WebhookResponse>>> {
        // The map stays consistent across a panic elsewhere: every change is one call.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Waiter {
    /// The answer, or None when it did not come within `limit`.
    pub async fn answer(mut self, limit: std::time::Duration) -> Option<WebhookResponse> {
        tokio::time::timeout(limit, &mut self.answer)
            .await
            .ok()
            .and_then(Result::ok)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiters.lock().remove(&self.execution_id);
    }
}

#[async_trait::async_trait]
impl MessageHandler for ResponseWaiters {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let response = WebhookResponse::decode_bytes(&delivery.body)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        self.complete(response);
        Ok(())
    }
}

/// The HTTP answer to the caller: the respond step's (or the last step's)
/// status, headers and body, or 500 `WORKFLOW_FAILED` with the execution id.
/// What breaks the rules of an answer (the executor checked them already)
/// is answered as a failure rather than sent.
pub fn http_answer(response: &WebhookResponse) -> HttpResponse {
    let execution_id = response.execution_id.as_str();
    let built = match response.outcome.as_str() {
        "responded" | "completed" => reply_of(response),
        other => Err(format!(
            "the execution {other}: {}",
            if response.error.is_empty() {
                "no reason given"
            } else {
                &response.error
            }
        )),
    };
    let mut answer = match built {
        Ok(reply) => send(&reply),
        Err(error) => {
            let failed = ApiError::new(
                ErrorCode::WorkflowFailed,
                ErrorCode::WorkflowFailed.default_message(),
            )
            .with_details(json!({
                "execution_id": execution_id,
                "status": response.outcome,
                "error": error,
            }));
            HttpResponse::build(StatusCode::INTERNAL_SERVER_ERROR).json(failed.body())
        }
    };
    if let Ok(value) = header::HeaderValue::from_str(execution_id) {
        answer
            .headers_mut()
            .insert(header::HeaderName::from_static(EXECUTION_ID_HEADER), value);
    }
    answer
}

fn reply_of(response: &WebhookResponse) -> Result<Reply, String> {
    let headers: Map<String, Value> = serde_json::from_str(&response.headers_json)
        .ok()
        .unwrap_or_default();
    let mut config = json!({"status": response.status, "headers": headers});
    if !response.body_json.is_empty() {
        let body: Value = serde_json::from_str(&response.body_json)
            .map_err(|e| format!("the answer's body is not JSON: {e}"))?;
        config["body"] = body;
    }
    Reply::from_rendered(&config).map_err(|e| format!("the workflow's answer is refused: {e}"))
}

fn send(reply: &Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut answer = HttpResponse::build(status);
    let mut typed = false;
    for (name, value) in &reply.headers {
        let (Ok(name), Some(Ok(value))) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(header::HeaderValue::from_str),
        ) else {
            continue;
        };
        typed |= name == header::CONTENT_TYPE;
        answer.append_header((name, value));
    }
    for (name, value) in respond::SECURITY_HEADERS {
        answer.insert_header((name, value));
    }
    // 204 and 304 carry no body (RFC 9110); the step's body is left out.
    if matches!(status.as_u16(), 204 | 304) {
        return answer.finish();
    }
    if !typed && let Some(content_type) = reply.default_content_type() {
        answer.insert_header((header::CONTENT_TYPE, content_type));
    }
    answer.body(reply.body_bytes())
}

/// Synchronous webhooks as the webhook route uses them: the waiters and
/// the server's maximum wait.
pub struct SyncWebhooks {
    pub waiters: Arc<ResponseWaiters>,
    /// `registry.webhook_respond_max_secs`.
    pub max_wait_secs: u64,
}

/// Every place to wait is taken: 503 with Retry-After, nothing started.
pub struct Busy {
    max_waiting: usize,
}

impl Busy {
    pub fn response(&self) -> HttpResponse {
        let error = ApiError::unavailable(
            "too many webhook callers are waiting for their workflows; retry shortly",
        )
        .with_details(json!({"max_waiting": self.max_waiting}));
        HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .insert_header((header::RETRY_AFTER, "1"))
            .json(error.body())
    }
}

impl SyncWebhooks {
    /// A place for the caller of `trigger`'s run `execution_id` to wait:
    /// None when the trigger answers at once, [`Busy`] when every place is taken.
    pub fn wait_for(
        &self,
        trigger: &WebhookTrigger,
        execution_id: Uuid,
    ) -> Result<Option<Waiter>, Busy> {
        if trigger.respond != RespondMode::WhenFinished {
            return Ok(None);
        }
        match self.waiters.wait_for(execution_id) {
            Some(waiter) => Ok(Some(waiter)),
            None => Err(Busy {
                max_waiting: self.waiters.max_waiting(),
            }),
        }
    }

    /// How long the caller of `trigger` waits.
    pub fn limit(&self, trigger: &WebhookTrigger) -> std::time::Duration {
        wait_limit(trigger.respond_timeout_seconds, self.max_wait_secs)
    }
}

/// How long a caller of `trigger` waits: its own timeout within the server's maximum.
pub fn wait_limit(trigger_timeout_seconds: Option<i64>, max_secs: u64) -> std::time::Duration {
    let asked = trigger_timeout_seconds
        .unwrap_or(respond::DEFAULT_TIMEOUT_SECONDS)
        .clamp(1, respond::MAX_TIMEOUT_SECONDS);
    let asked = u64::try_from(asked).unwrap_or(1);
    std::time::Duration::from_secs(asked.min(max_secs.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(outcome: &str, status: i32, headers: Value, body: &str) -> WebhookResponse {
        WebhookResponse {
            execution_id: Uuid::nil().to_string(),
            outcome: outcome.into(),
            status,
            headers_json: headers.to_string(),
            body_json: body.into(),
            error: "step 'x' failed: boom".into(),
        }
    }

    #[test]
    fn an_answer_keeps_its_status_headers_and_body() {
        let answer = http_answer(&response(
            "responded",
            201,
            json!({"X-Id": "7"}),
            r#"{"a":1}"#,
        ));
        assert_eq!(answer.status(), 201);
        assert_eq!(answer.headers().get("x-id").unwrap(), "7");
        assert_eq!(
            answer.headers().get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(
            answer.headers().get(EXECUTION_ID_HEADER).unwrap(),
            &Uuid::nil().to_string()
        );
        let text = http_answer(&response("completed", 200, json!({}), r#""hi""#));
        assert_eq!(
            text.headers().get("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn failures_and_refused_answers_are_500_with_the_execution() {
        assert_eq!(
            http_answer(&response("failed", 500, json!({}), "")).status(),
            500
        );
        let forged = response("responded", 200, json!({"Set-Cookie": "s=1"}), "");
        assert_eq!(http_answer(&forged).status(), 500);
        assert_eq!(
            http_answer(&response("responded", 99, json!({}), "")).status(),
            500
        );
    }

    #[test]
    fn the_wait_is_the_triggers_within_the_servers_maximum() {
        use std::time::Duration;
        assert_eq!(wait_limit(None, 50), Duration::from_secs(30));
        assert_eq!(wait_limit(Some(2), 50), Duration::from_secs(2));
        assert_eq!(wait_limit(Some(300), 50), Duration::from_secs(50));
    }

    #[test]
    fn waiters_are_bounded_and_freed_when_dropped() {
        let waiters = ResponseWaiters::new(1);
        let first = waiters.wait_for(Uuid::new_v4()).unwrap();
        assert!(waiters.wait_for(Uuid::new_v4()).is_none());
        drop(first);
        assert_eq!(waiters.waiting(), 0);
        assert!(waiters.wait_for(Uuid::new_v4()).is_some());
    }
}
