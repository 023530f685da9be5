//! The integration actions (`action.slack_post_message`,
//! `action.hubspot_create_contact`, `action.sheets_append_row`,
//! `action.salesforce_create_lead`): run by the integrations service, which
//! holds the tokens, refreshes them and rate-limits each connection. The
//! execution's owner goes with every call, so a workflow can only use its
//! owner's connections, whatever its config or trigger data says.

use echoflow_domain::IntegrationAction;
use echoflow_service_kit::ErrorCode;
use echoflow_service_kit::InternalClient;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;

use super::context::{NodeError, StepScope};

#[derive(Clone)]
pub struct IntegrationsNode {
    client: InternalClient,
    base_url: String,
}

impl IntegrationsNode {
    pub fn new(base_url: &str, internal_token: SecretString) -> Result<Self, reqwest::Error> {
        // Integrations may wait for a connection's rate limiter (up to
        // integrations.max_limiter_wait_ms) and a provider: allow for both.
        let client = InternalClient::builder(Duration::from_secs(3), Duration::from_secs(60))
            .service_token(internal_token)
            .build()?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// Runs `action` with the node's rendered config as input.
    pub async fn call(
        &self,
        action: IntegrationAction,
        input: &Value,
        execution_id: &str,
        step: &StepScope<'_>,
    ) -> Result<Value, NodeError> {
        let connection_id = input
            .get("connection_id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| NodeError::Permanent("connection_id is empty after rendering".into()))?;
        let connection_id = uuid::Uuid::parse_str(connection_id).map_err(|_| {
            NodeError::Permanent(format!(
                "connection_id '{connection_id}' is not a connection id"
            ))
        })?;
        let mut action_input = input.clone();
        if let Some(fields) = action_input.as_object_mut() {
            fields.remove("connection_id");
            for key in ["retry", "timeout_ms", "on_error"] {
                fields.remove(key);
            }
        }
        let body = json!({
            "connection_id": connection_id,
            "owner_id": step.owner_id,
            "chatbot_id": step.chatbot_id,
            "execution_id": execution_id,
            "idempotency_key": step.key,
            "input": action_input,
        });
        let url = format!("{}/internal/actions/{action}", self.base_url);
        let response = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NodeError::Transient(format!("integrations service unreachable: {e}")))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(answer.get("output").cloned().unwrap_or(answer));
        }
        let code = answer["error"]["code"].as_str().and_then(ErrorCode::parse);
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string();
        Err(classify(status, code, message, retry_after, connection_id))
    }
}

/// The error class of an integrations answer.
fn classify(
    status: u16,
    code: Option<ErrorCode>,
    message: String,
    retry_after: Option<Duration>,
    connection_id: uuid::Uuid,
) -> NodeError {
    match status {
        404 => NodeError::Permanent(format!(
            "connection {connection_id} does not exist or belongs to another user"
        )),
        409 if code == Some(ErrorCode::NeedsReconnect) || message.contains("reconnect") => {
            NodeError::Permanent(format!(
                "connection {connection_id} needs to be reconnected: {message}"
            ))
        }
        429 => NodeError::RateLimited {
            message: format!("rate limited: {message}"),
            retry_after,
        },
        401 if code != Some(ErrorCode::Unauthorized) => NodeError::Unauthorized(format!(
            "the provider refused the connection's token: {message}"
        )),
        401 | 403 => NodeError::Permanent(format!(
            "the integrations service refused the executor ({status}): check auth.internal_token"
        )),
        408 | 500..=599 => {
            NodeError::Transient(format!("provider unavailable ({status}): {message}"))
        }
        _ => NodeError::Permanent(format!("refused ({status}): {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_error_classes() {
        let id = uuid::Uuid::nil();
        let class = |status, code: &str| {
            classify(status, ErrorCode::parse(code), "m".into(), None, id).class()
        };
        assert_eq!(class(404, "NOT_FOUND"), "configuration");
        assert_eq!(class(409, "NEEDS_RECONNECT"), "configuration");
        assert_eq!(class(429, "RATE_LIMITED"), "rate_limit");
        assert_eq!(class(401, "PROVIDER_UNAUTHORIZED"), "authentication");
        assert_eq!(class(401, "UNAUTHORIZED"), "configuration");
        assert_eq!(class(502, "PROVIDER_UNAVAILABLE"), "transient");
        assert_eq!(class(400, "PROVIDER_REJECTED"), "configuration");
        assert_eq!(class(422, "VALIDATION_ERROR"), "configuration");
    }
}
