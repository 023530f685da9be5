//! `POST /hooks/{token}`: the webhook entry point. No auth: the token is the
//! secret; a workflow may also require an HMAC signature of the body.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use echoflow_contracts::EventType;
use echoflow_domain::{TriggerSpec, WebhookTrigger};
use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::execute::Accepted;
use crate::jobs::{JobSubmitter, Submitted, build_job, local_event};
use crate::responses::{self, SyncWebhooks};
use crate::store::{deliveries, webhooks};
use crate::webhook_secrets::WebhookSecrets;
use crate::webhook_signature::{self, Scheme};

/// Headers never passed on to a workflow.
const WITHHELD_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-echoflow-internal-token",
];
const DEFAULT_SIGNATURE_HEADER: &str = "x-echoflow-signature";

/// Call a workflow's webhook. The trigger data is `{body, headers, query}`.
/// With the trigger's `respond: when_finished` the caller waits for the
/// workflow's answer (up to `respond_timeout_seconds`, capped by the server).
#[utoipa::path(post, path = "/hooks/{token}", operation_id = "receiveWebhook", security((), ("webhookSignature" = [])), tag = "workflows",
    params(("token" = String, Path, pattern = "^[0-9a-f]{64}$", description = "the workflow's webhook token (64 hex digits)")),
    request_body(content = Object, description = "any body: JSON, form or text"),
    responses((status = 202, body = Accepted, description = "the run is queued (respond: immediately), or a when_finished workflow did not answer within its timeout (the X-Echoflow-Execution-Id header names the run)"),
        (status = "2XX", description = "respond: when_finished: the workflow's answer: the status, headers and body of its first action.respond step, or 200 with the last step's output (JSON) when it finished without one; X-Echoflow-Execution-Id names the run"),
        (status = 401, description = "bad signature"), (status = 404, description = "no active workflow for this token"),
        (status = 500, description = "respond: when_finished: the workflow failed or was cancelled before it answered (WORKFLOW_FAILED, details.execution_id)"),
        (status = 503, description = "respond: when_finished: too many callers are waiting on this server (Retry-After); nothing was started")))]
#[tracing::instrument(skip_all)]
pub async fn receive(
    jobs: web::Data<JobSubmitter>,
    secrets: web::Data<WebhookSecrets>,
    sync: web::Data<SyncWebhooks>,
    req: HttpRequest,
    token: web::Path<String>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(super::body_error)?;
    let not_found = || ApiError::not_found("webhook");
    if token.len() > 128 {
        return Err(not_found());
    }
    let (wf, version) = webhooks::resolve(&jobs.db, &token)
        .await?
        .ok_or_else(not_found)?;
    // A token belongs to a webhook-triggered workflow; any other trigger has no webhook settings.
    let trigger = match version.trigger_spec() {
        Some(TriggerSpec::Webhook(trigger)) => trigger,
        _ => WebhookTrigger::default(),
    };
    let scheme = check_signature(&secrets, &trigger, &req, &body)?;
    let data = json!({
        "body": parse_body(&req, &body),
        "headers": headers(&req),
        "query": query(&req),
    });
    let event = local_event(EventType::WebhookReceived, format!("/hooks/{}", wf.id), &wf)
        .data(data)
        .build();
    let replay_window = (scheme == Some(Scheme::Timestamped)).then_some(secrets.tolerance_secs);
    let dedupe = dedupe_key(&trigger, &req, &body, replay_window)?;
    let job = build_job(&wf, &version, event);
    let execution_id = Uuid::parse_str(&job.execution_id).map_err(ApiError::internal)?;
    // `respond: when_finished`: the caller waits from before the job is queued.
    let waiter = match sync.wait_for(&trigger, execution_id) {
        Ok(waiter) => waiter,
        // Busy refuses new runs only: a repeat of an accepted delivery still
        // gets the first one's answer.
        Err(busy) => {
            if let Some((key, window)) = &dedupe
                && let Some(original) =
                    deliveries::accepted(&jobs.db, wf.id, key, Utc::now(), *window).await?
            {
                return Ok(repeated(original));
            }
            return Ok(busy.response());
        }
    };
    let submitted = match dedupe {
        None => Submitted::New(jobs.submit_job(job).await?),
        Some((key, window)) => jobs.submit_job_once(&wf, job, &key, window).await?,
    };
    match submitted {
        Submitted::New(execution_id) => match waiter {
            Some(waiter) => match waiter.answer(sync.limit(&trigger)).await {
                Some(response) => Ok(responses::http_answer(&response)),
                // Timed out: the run goes on; the caller looks it up by its id.
                None => Ok(HttpResponse::Accepted()
                    .insert_header((responses::EXECUTION_ID_HEADER, execution_id.to_string()))
                    .json(Accepted::new(execution_id))),
            },
            None => Ok(HttpResponse::Accepted().json(Accepted::new(execution_id))),
        },
        Submitted::Repeat(execution_id) => Ok(repeated(execution_id)),
    }
}

/// The answer to a repeated delivery: the first delivery's execution.
fn repeated(execution_id: Uuid) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((DUPLICATE_HEADER, "true"))
        .json(Accepted {
            execution_id,
            duplicate: true,
        })
}

/// Set on the answer to a repeated delivery.
const DUPLICATE_HEADER: &str = "x-echoflow-duplicate";
const DEFAULT_IDEMPOTENCY_HEADER: &str = "idempotency-key";
const DEFAULT_DEDUPE_WINDOW_SECS: i64 = 86_400;
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// The delivery's deduplication key and window: its idempotency header
/// (`Idempotency-Key` unless the trigger names another), else, when the
/// trigger sets `dedupe_payload`, the SHA-256 of its body, else, for a
/// timestamped signature (`replay_window` seconds), the signature header
/// itself: a delivery replayed within the tolerance answers with the first
/// one's execution. None: every delivery runs.
fn dedupe_key(
    trigger: &WebhookTrigger,
    req: &HttpRequest,
    body: &[u8],
    replay_window: Option<i64>,
) -> Result<Option<(String, chrono::Duration)>, ApiError> {
    use sha2::Digest;
    let header = trigger
        .idempotency_header
        .as_deref()
        .unwrap_or(DEFAULT_IDEMPOTENCY_HEADER);
    let window = chrono::Duration::seconds(
        trigger
            .dedupe_window_seconds
            .unwrap_or(DEFAULT_DEDUPE_WINDOW_SECS),
    );
    let given = req
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if let Some(key) = given {
        if key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
            return Err(ApiError::validation(
                format!(
                    "the {header} header is longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters"
                ),
                json!({"header": header}),
            ));
        }
        return Ok(Some((format!("header:{key}"), window)));
    }
    if trigger.dedupe_payload {
        let digest = hex::encode(sha2::Sha256::digest(body));
        return Ok(Some((format!("payload:{digest}"), window)));
    }
    if let Some(tolerance) = replay_window {
        let header = signature_header(trigger);
        let signed = req
            .headers()
            .get(header)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let digest = hex::encode(sha2::Sha256::digest(signed));
        // Either side of now: a delivery is accepted up to `tolerance` early or late.
        let window = chrono::Duration::seconds(tolerance.saturating_mul(2).max(1));
        return Ok(Some((format!("signature:{digest}"), window)));
    }
    Ok(None)
}

/// The header that carries a delivery's signature.
fn signature_header(trigger: &WebhookTrigger) -> &str {
    trigger
        .signature_header
        .as_deref()
        .unwrap_or(DEFAULT_SIGNATURE_HEADER)
}

fn parse_body(req: &HttpRequest, body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form && let Ok(form) = serde_urlencoded_pairs(body) {
        return form;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn serde_urlencoded_pairs(body: &[u8]) -> Result<Value, ()> {
    let text = std::str::from_utf8(body).map_err(|_| ())?;
    let pairs = url::form_urlencoded::parse(text.as_bytes());
    let map: Map<String, Value> = pairs
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Ok(Value::Object(map))
}

fn headers(req: &HttpRequest) -> Value {
    let map: Map<String, Value> = req
        .headers()
        .iter()
        .filter(|(name, _)| !WITHHELD_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_string(), Value::String(v.to_string())))
        })
        .collect();
    Value::Object(map)
}

fn query(req: &HttpRequest) -> Value {
    let map: Map<String, Value> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Value::Object(map)
}

/// When the trigger has an `hmac_secret`, the request must carry a
/// signature of the body in its signature header, in the trigger's
/// `signature_scheme` (see [`crate::webhook_signature`]).
fn check_signature(
    secrets: &WebhookSecrets,
    trigger: &WebhookTrigger,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<Scheme>, ApiError> {
    let Some(stored) = trigger.hmac_secret.as_deref() else {
        return Ok(None);
    };
    let secret = secrets.open(stored).map_err(ApiError::internal)?;
    let scheme = Scheme::named(trigger.signature_scheme.as_deref())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown signature_scheme")))?;
    let header = signature_header(trigger);
    let refused = |reason: &str| {
        ApiError::new(
            ErrorCode::Unauthorized,
            format!("missing or invalid webhook signature: {reason}"),
        )
        .with_details(json!({"header": header}))
    };
    let given = req
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("the header is missing"))?;
    let now = chrono::Utc::now().timestamp();
    webhook_signature::verify(
        scheme,
        secret.as_bytes(),
        given,
        body,
        now,
        secrets.tolerance_secs,
    )
    .map_err(|e| refused(&e.to_string()))?;
    Ok(Some(scheme))
}
