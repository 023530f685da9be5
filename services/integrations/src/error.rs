//! The errors of the integrations API and of provider calls, as the
//! platform's `{"error": {code, message, details}}` body.
//!
//! Its own codes (`NEEDS_RECONNECT`, `PROVIDER_*`, ...) are in service-kit's
//! one code table with every other service's, status and all: the executor
//! tells retryable from final outcomes by them (`PROVIDER_UNAVAILABLE` and
//! `RATE_LIMITED` are retried, the rest are not).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Any of the platform's own errors (404, 422, 401, ...).
    #[error("{0}")]
    Api(ApiError),
    /// The callback's state is unknown, expired, spent or for another provider.
    #[error("{0}")]
    InvalidState(String),
    /// The user (or the provider) refused the authorization.
    #[error("{0}")]
    AccessDenied(String),
    /// The token endpoint did not trade the authorization code for tokens
    /// (unreachable, 5xx, or it refused our request or app).
    #[error("{0}")]
    TokenExchangeFailed(String),
    /// The provider said the authorization code itself is invalid, expired or
    /// spent (`invalid_grant`): the caller brought a bad code.
    #[error("{0}")]
    InvalidGrant(String),
    /// The grant is gone; only a new connect helps. The provider is not called.
    #[error("the connection needs to be reconnected: {reason}")]
    NeedsReconnect { reason: String },
    /// Waiting for the limiter or the provider's Retry-After would take too long.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The provider still refused the token after a refresh and a retry.
    #[error("{0}")]
    ProviderUnauthorized(String),
    /// 5xx, timeout or no connection: worth retrying later.
    #[error("{0}")]
    ProviderUnavailable(String),
    /// The provider refused the request itself (4xx): retrying will not help.
    #[error("{message}")]
    ProviderRejected {
        status: u16,
        message: String,
        body: String,
    },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Longest excerpt of a provider's body kept in an error.
pub const BODY_EXCERPT: usize = 500;

/// The first [`BODY_EXCERPT`] characters of `body`.
pub fn excerpt(body: &str) -> String {
    body.chars().take(BODY_EXCERPT).collect()
}

impl Error {
    /// The error's code; its status is the code's, from service-kit's one table.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api(e) => e.code,
            Error::InvalidState(_) => ErrorCode::InvalidState,
            Error::AccessDenied(_) => ErrorCode::AccessDenied,
            Error::TokenExchangeFailed(_) => ErrorCode::TokenExchangeFailed,
            Error::InvalidGrant(_) => ErrorCode::InvalidGrant,
            Error::NeedsReconnect { .. } => ErrorCode::NeedsReconnect,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::ProviderUnauthorized(_) => ErrorCode::ProviderUnauthorized,
            Error::ProviderUnavailable(_) => ErrorCode::ProviderUnavailable,
            Error::ProviderRejected { .. } => ErrorCode::ProviderRejected,
            Error::Unexpected(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// Whole seconds a caller should wait, rounded up (at least 1).
    pub fn retry_after_secs(retry_after: Duration) -> u64 {
        let secs = retry_after.as_secs();
        if retry_after.subsec_nanos() > 0 || secs == 0 {
            secs + 1
        } else {
            secs
        }
    }

    fn message_and_details(&self) -> (String, Value) {
        match self {
            Error::Api(e) => (e.message.clone(), e.details.clone()),
            Error::NeedsReconnect { reason } => (
                ErrorCode::NeedsReconnect.default_message().into(),
                json!({"reason": reason}),
            ),
            Error::RateLimited { retry_after } => {
                let secs = Self::retry_after_secs(*retry_after);
                (
                    format!(
                        "the provider's rate limit for this connection is reached; retry after {secs} s"
                    ),
                    json!({"retry_after_secs": secs}),
                )
            }
            Error::ProviderRejected {
                status,
                message,
                body,
            } => (
                message.clone(),
                json!({"provider_status": status, "provider_body": body}),
            ),
            Error::Unexpected(_) => (ErrorCode::Internal.default_message().into(), json!({})),
            other => (other.to_string(), json!({})),
        }
    }

    pub fn body(&self) -> Value {
        let (message, details) = self.message_and_details();
        json!({"error": {"code": self.code().as_str(), "message": message, "details": details}})
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Error::Unexpected(err) = self {
            tracing::error!(error = ?err, "unexpected error");
        }
        let mut response = HttpResponse::build(self.status());
        if let Error::RateLimited { retry_after } = self {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                Self::retry_after_secs(*retry_after).to_string(),
            ));
        }
        response.json(self.body())
    }
}

impl From<ApiError> for Error {
    fn from(err: ApiError) -> Self {
        Error::Api(err)
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::Unexpected(err.into())
    }
}

impl From<crate::tokens::keyring::CryptoError> for Error {
    fn from(err: crate::tokens::keyring::CryptoError) -> Self {
        Error::Unexpected(err.into())
    }
}

/// A 422 naming the field at fault.
pub fn invalid(path: &str, message: impl Into<String>) -> Error {
    let message = message.into();
    Error::Api(ApiError::validation(
        format!("{path}: {message}"),
        json!({"path": path, "message": message}),
    ))
}

pub fn not_found(what: &str) -> Error {
    Error::Api(ApiError::not_found(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(Error::retry_after_secs(Duration::from_millis(0)), 1);
        assert_eq!(Error::retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(Error::retry_after_secs(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn bodies_carry_code_message_and_details() {
        let e = Error::ProviderRejected {
            status: 404,
            message: "channel_not_found".into(),
            body: "{}".into(),
        };
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let body = e.body();
        assert_eq!(body["error"]["code"], "PROVIDER_REJECTED");
        assert_eq!(body["error"]["details"]["provider_status"], 404);
        let e = Error::Unexpected(anyhow::anyhow!("secret internals"));
        assert!(!e.body().to_string().contains("secret"));
    }
}
