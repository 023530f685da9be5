//! The one error body of the API, `{"error": {code, message, details}}`, and
//! the one code table of every service.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde_json::{Value, json};

/// Declares [`ErrorCode`] from one table: each code with its name in
/// bodies, its HTTP status and its default message (as Meilisearch's `Code`).
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($name:literal, $status:ident, $message:literal),)+) => {
        /// Every error code any echoflow service answers with. Services
        /// tell outcomes apart by these codes (the executor reads the
        /// integrations service's), so they are matched as this enum, never
        /// as strings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as bodies carry it: `"NOT_FOUND"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }

            /// The message of an error of this code that has none of its own.
            pub const fn default_message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $message,)+
                }
            }
        }
    };
}

error_codes! {
    BadRequest = ("BAD_REQUEST", BAD_REQUEST, "the request is malformed"),
    ValidationError = ("VALIDATION_ERROR", UNPROCESSABLE_ENTITY, "the request is invalid"),
    Unauthorized = ("UNAUTHORIZED", UNAUTHORIZED, "authentication is required"),
    Forbidden = ("FORBIDDEN", FORBIDDEN, "this is not allowed"),
    /// A browser request from a web origin that the chatbot's `allowed_origins`
    /// (or the gateway's CORS allow-list) does not name.
    OriginNotAllowed = ("ORIGIN_NOT_ALLOWED", FORBIDDEN, "requests from this origin are not allowed"),
    NotFound = ("NOT_FOUND", NOT_FOUND, "not found"),
    MethodNotAllowed = ("METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED, "this method is not allowed here"),
    Conflict = ("CONFLICT", CONFLICT, "this conflicts with the current state"),
    PayloadTooLarge = ("PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE, "the body is too large"),
    InvalidWorkflow = ("INVALID_WORKFLOW", UNPROCESSABLE_ENTITY, "the workflow is invalid"),
    RateLimited = ("RATE_LIMITED", TOO_MANY_REQUESTS, "too many requests; retry later"),
    ServiceUnavailable = ("SERVICE_UNAVAILABLE", SERVICE_UNAVAILABLE, "the service is unavailable; retry later"),
    Internal = ("INTERNAL_ERROR", INTERNAL_SERVER_ERROR, "an unexpected error occurred"),
    /// Registry: a synchronous webhook's workflow failed (or was cancelled)
    /// before it answered; details carry the execution id.
    WorkflowFailed = ("WORKFLOW_FAILED", INTERNAL_SERVER_ERROR, "the workflow failed"),
    /// Integrations: an OAuth callback's state is unknown, expired, spent or another provider's.
    InvalidState = ("INVALID_STATE", BAD_REQUEST, "the authorization state is invalid or expired"),
    /// Integrations: the user (or the provider) refused the authorization.
    AccessDenied = ("ACCESS_DENIED", BAD_REQUEST, "the authorization was refused"),
    /// Integrations: the token endpoint did not trade the authorization code for tokens.
    TokenExchangeFailed = ("TOKEN_EXCHANGE_FAILED", BAD_GATEWAY, "the provider did not issue tokens"),
    /// Integrations: the provider called the authorization code invalid, expired or spent.
    InvalidGrant = ("INVALID_GRANT", BAD_REQUEST, "the authorization code is invalid or expired"),
    /// Integrations: the connection's grant is gone; only a new connect helps.
    NeedsReconnect = ("NEEDS_RECONNECT", CONFLICT, "the connection was revoked or expired at the provider; reconnect it"),
    /// Integrations: the provider still refused the token after a refresh and a retry.
    ProviderUnauthorized = ("PROVIDER_UNAUTHORIZED", UNAUTHORIZED, "the provider refused the connection's token"),
    /// Integrations: a provider's 5xx, timeout or no connection; worth retrying.
    ProviderUnavailable = ("PROVIDER_UNAVAILABLE", BAD_GATEWAY, "the provider is unavailable; retry later"),
    /// Integrations: the provider refused the request itself (4xx); retrying will not help.
    ProviderRejected = ("PROVIDER_REJECTED", BAD_REQUEST, "the provider refused the request"),
}

impl ErrorCode {
    /// The code named `name` in a body, as another service answered it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|code| code.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the caller sees it. Build domain errors with [`ApiError::new`];
/// anything unexpected goes through [`ApiError::internal`], which logs the
/// whole cause chain and tells the caller nothing about it.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn validation(message: impl Into<String>, details: Value) -> Self {
        Self::new(ErrorCode::ValidationError, message).with_details(details)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    /// Logs `err` with its cause chain and answers an opaque 500.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        let err = err.into();
        tracing::error!(error = ?err, "unexpected error");
        Self::new(ErrorCode::Internal, ErrorCode::Internal.default_message())
    }

    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code.as_str(), "message": self.message, "details": self.details}})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(self.body())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(err)
    }
}

impl From<sea_orm::TransactionError<sea_orm::DbErr>> for ApiError {
    fn from(err: sea_orm::TransactionError<sea_orm::DbErr>) -> Self {
        ApiError::internal(anyhow::anyhow!(err.to_string()))
    }
}

/// Maps actix's extractor failures (bad JSON, wrong query, body too large)
/// to the API's error body.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        ),
        E::ContentType => ApiError::new(
            ErrorCode::BadRequest,
            "the body must be JSON (Content-Type: application/json)",
        ),
        E::Deserialize(e) if e.is_data() => ApiError::validation(
            format!("invalid body: {e}"),
            json!({"line": e.line(), "column": e.column()}),
        ),
        E::Deserialize(e) => ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}")),
        other => ApiError::new(ErrorCode::BadRequest, other.to_string()),
    };
    api.into()
}

pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::validation(format!("invalid query string: {err}"), json!({})).into()
}

pub fn path_error_handler(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::new(ErrorCode::NotFound, format!("no such resource: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!(!code.default_message().is_empty(), "{code}");
        }
        assert_eq!(ErrorCode::parse("NO_SUCH_CODE"), None);
    }

    /// Each code keeps the status it was answered with before the tables were one.
    #[test]
    fn statuses_of_the_table() {
        let expected = [
            ("BAD_REQUEST", 400),
            ("VALIDATION_ERROR", 422),
            ("UNAUTHORIZED", 401),
            ("FORBIDDEN", 403),
            ("ORIGIN_NOT_ALLOWED", 403),
            ("NOT_FOUND", 404),
            ("METHOD_NOT_ALLOWED", 405),
            ("CONFLICT", 409),
            ("PAYLOAD_TOO_LARGE", 413),
            ("INVALID_WORKFLOW", 422),
            ("RATE_LIMITED", 429),
            ("SERVICE_UNAVAILABLE", 503),
            ("INTERNAL_ERROR", 500),
            ("WORKFLOW_FAILED", 500),
            ("INVALID_STATE", 400),
            ("ACCESS_DENIED", 400),
            ("TOKEN_EXCHANGE_FAILED", 502),
            ("INVALID_GRANT", 400),
            ("NEEDS_RECONNECT", 409),
            ("PROVIDER_UNAUTHORIZED", 401),
            ("PROVIDER_UNAVAILABLE", 502),
            ("PROVIDER_REJECTED", 400),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (name, status) in expected {
            let code = ErrorCode::parse(name).unwrap();
            assert_eq!(code.status().as_u16(), status, "{name}");
        }
    }

    #[test]
    fn an_internal_error_tells_nothing() {
        let body = ApiError::internal(anyhow::anyhow!("secret internals")).body();
        assert_eq!(
            body,
            json!({"error": {"code": "INTERNAL_ERROR", "message": "an unexpected error occurred", "details": {}}})
        );
    }
}
