//! The one path every provider call takes (actions and connection tests):
//! rate limiter, fresh token, the request, and what its answer means — one
//! refresh-and-retry on an expired token, waiting out a Retry-After that
//! fits the caller's budget, and at most [`MAX_ATTEMPTS`] requests.

pub mod limiter;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use crate::calls::limiter::{Limiter, Refused, WouldWait};
use crate::error::{Error, excerpt};
use crate::events::Origin;
use crate::oauth::{DEFAULT_RETRY_AFTER, describe_transport, parse_retry_after};
use crate::provider::Provider;
use crate::settings::ProvidersSettings;
use crate::store::connections;
use crate::tokens::Tokens;

/// Requests one action call may send to its provider (a retry after a
/// refresh, and one after a short Retry-After).
pub const MAX_ATTEMPTS: u32 = 3;

/// Slack's 200-with-`ok:false` errors that mean the token is not accepted.
const SLACK_AUTH_ERRORS: &[&str] = &[
    "token_expired",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "account_inactive",
];

/// A request to a provider's API, before the token is added.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    pub method: Method,
    pub url: url::Url,
    pub body: Option<Value>,
}

/// What a provider's answer means.
#[derive(Debug)]
enum Reply {
    Success(Value),
    Unauthorized(String),
    RateLimited(Duration),
    Unavailable(String),
    Rejected {
        status: u16,
        message: String,
        body: String,
    },
}

/// Everything a provider call needs; one per process.
pub struct Calls {
    pub db: DatabaseConnection,
    pub tokens: Arc<Tokens>,
    pub limiter: Arc<Limiter>,
    pub http: reqwest::Client,
    pub providers: ProvidersSettings,
    pub max_wait: Duration,
}

impl Calls {
    /// The API base of a connection: the configured one, else (Salesforce)
    /// the `instance_url` its token endpoint returned.
    pub fn api_base(
        &self,
        row: &connections::Model,
        provider: Provider,
    ) -> Result<url::Url, Error> {
        let configured = self.providers.of(provider).api_base_url.trim();
        let base = if configured.is_empty() {
            row.config_str("instance_url").unwrap_or_default()
        } else {
            configured
        };
        if base.is_empty() {
            return Err(Error::NeedsReconnect {
                reason: format!(
                    "{provider}: no API base URL is configured or known for this connection"
                ),
            });
        }
        url::Url::parse(base).map_err(|e| {
            Error::Unexpected(anyhow::anyhow!("{provider}: invalid API base URL: {e}"))
        })
    }

    /// Sends the request `build` makes for the connection, on the owner's
    /// behalf, and returns the provider's JSON answer.
    #[tracing::instrument(skip(self, build, origin, idempotency_key), fields(connection_id = %id))]
    pub async fn send<F>(
        &self,
        id: Uuid,
        owner_id: Uuid,
        origin: Origin,
        idempotency_key: Option<&str>,
        build: F,
    ) -> Result<Value, Error>
    where
        F: Fn(&connections::Model, url::Url) -> Result<ProviderRequest, Error>,
    {
        let deadline = Instant::now() + self.max_wait;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Re-read each time: status, tokens and a stored Retry-After may
            // have changed (another caller, another replica).
            let row = connections::find_owned(&self.db, id, owner_id)
                .await?
                .ok_or_else(|| crate::error::not_found("connection"))?;
            let provider = Provider::parse(&row.provider)
                .ok_or_else(|| anyhow::anyhow!("unknown provider {}", row.provider))?;
            if row.needs_reconnect() {
                return Err(Error::NeedsReconnect {
                    reason: row.status_reason.clone().unwrap_or_default(),
                });
            }
            let request = build(&row, self.api_base(&row, provider)?)?;
            self.limiter
                .acquire(provider, id, row.blocked_until, deadline)
                .await
                .map_err(|refused| match refused {
                    Refused::Wait(WouldWait(retry_after)) => Error::RateLimited { retry_after },
                    Refused::Db(e) => Error::from(e),
                })?;
            let access = self.tokens.current(&row, origin).await?;
            let reply = self
                .request(provider, &request, &access.token, idempotency_key)
                .await;
            match reply {
                Reply::Success(body) => return Ok(body),
                Reply::Unauthorized(message) => {
                    if refreshed || attempt >= MAX_ATTEMPTS {
                        return Err(Error::ProviderUnauthorized(format!(
                            "{provider} refused the access token even after a refresh: {message}"
                        )));
                    }
                    refreshed = true;
                    self.tokens.refresh(id, access.version, origin).await?;
                }
                Reply::RateLimited(wait) => {
                    self.limiter.block_for(id, wait);
                    if let Ok(span) = chrono::Duration::from_std(wait) {
                        connections::block_until(&self.db, id, Utc::now() + span).await?;
                    }
                    if attempt >= MAX_ATTEMPTS || Instant::now() + wait > deadline {
                        return Err(Error::RateLimited { retry_after: wait });
                    }
                }
                Reply::Unavailable(message) => {
                    return Err(Error::ProviderUnavailable(format!(
                        "{provider} is unavailable: {message}"
                    )));
                }
                Reply::Rejected {
                    status,
                    message,
                    body,
                } => {
                    return Err(Error::ProviderRejected {
                        status,
                        message: format!("{provider}: {message}"),
                        body,
                    });
                }
            }
        }
    }

    async fn request(
        &self,
        provider: Provider,
        request: &ProviderRequest,
        token: &str,
        idempotency_key: Option<&str>,
    ) -> Reply {
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Reply::Unavailable(describe_transport(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = parse_retry_after(
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Reply::Unavailable(describe_transport(&e)),
        };
        classify(provider, status, retry_after, &text)
    }
}

fn classify(provider: Provider, status: u16, retry_after: Option<Duration>, text: &str) -> Reply {
    let json: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(excerpt(text)))
    };
    match status {
        200..=299 => {
            if provider == Provider::Slack && json.get("ok") == Some(&Value::Bool(false)) {
                let error = json
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown_error")
                    .to_string();
                if SLACK_AUTH_ERRORS.contains(&error.as_str()) {
                    return Reply::Unauthorized(error);
                }
                if error == "ratelimited" {
                    return Reply::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER));
                }
                return Reply::Rejected {
                    status,
                    message: error,
                    body: excerpt(text),
                };
            }
            Reply::Success(json)
        }
        401 => Reply::Unauthorized(message_of(&json).unwrap_or_else(|| "HTTP 401".into())),
        429 => Reply::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
        408 | 500..=599 => Reply::Unavailable(format!("HTTP {status}")),
        _ => Reply::Rejected {
            status,
            message: message_of(&json).unwrap_or_else(|| format!("HTTP {status}")),
            body: excerpt(text),
        },
    }
}

/// The human message of a provider's error body (HubSpot `message`, Google
/// `error.message`, Slack `error`, Salesforce `[{message}]`).
pub fn message_of(body: &Value) -> Option<String> {
    let candidates = [
        body.get("message"),
        body.get("error").and_then(|e| e.get("message")),
        body.get("error"),
        body.get(0).and_then(|e| e.get("message")),
        body.get("error_description"),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().map(excerpt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slack_signals_errors_in_200_bodies() {
        let r = classify(
            Provider::Slack,
            200,
            None,
            r#"{"ok":false,"error":"token_expired"}"#,
        );
        assert!(matches!(r, Reply::Unauthorized(e) if e == "token_expired"));
        let r = classify(
            Provider::Slack,
            200,
            None,
            r#"{"ok":false,"error":"ratelimited"}"#,
        );
        assert!(matches!(r, Reply::RateLimited(_)));
        let r = classify(
            Provider::Slack,
            200,
            None,
            r#"{"ok":false,"error":"channel_not_found"}"#,
        );
        assert!(matches!(r, Reply::Rejected { message, .. } if message == "channel_not_found"));
        let r = classify(Provider::Slack, 200, None, r#"{"ok":true,"ts":"1"}"#);
        assert!(matches!(r, Reply::Success(_)));
        // Only Slack reads `ok`.
        let r = classify(Provider::Hubspot, 200, None, r#"{"ok":false}"#);
        assert!(matches!(r, Reply::Success(_)));
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let sf = r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(
            matches!(classify(Provider::Salesforce, 401, None, sf), Reply::Unauthorized(m) if m.contains("Session"))
        );
        assert!(matches!(
            classify(Provider::Hubspot, 429, Some(Duration::from_secs(3)), ""),
            Reply::RateLimited(d) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(Provider::Hubspot, 503, None, "down"),
            Reply::Unavailable(_)
        ));
        assert!(matches!(
            classify(Provider::Hubspot, 408, None, ""),
            Reply::Unavailable(_)
        ));
        let r = classify(
            Provider::GoogleSheets,
            400,
            None,
            r#"{"error":{"message":"Unable to parse range"}}"#,
        );
        assert!(
            matches!(r, Reply::Rejected { status: 400, message, .. } if message == "Unable to parse range")
        );
        assert_eq!(message_of(&json!({"message": "m"})).as_deref(), Some("m"));
        assert_eq!(message_of(&json!(null)), None);
    }
}
