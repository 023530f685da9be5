//! The registry's public routes.

use echoflow_service_kit::{ApiError, ErrorCode};

pub mod audit;
pub mod events;
pub mod execute;
pub mod node_types;
pub mod templates;
pub mod versions;
pub mod webhooks;
pub mod workflows;

/// Base URL for links in answers (`webhook_url`), as app data.
#[derive(Clone)]
pub struct PublicUrl(pub String);

/// A raw body that could not be read, in the API's error body (actix's own
/// answer to an oversized raw body is plain text).
pub(crate) fn body_error(err: actix_web::Error) -> ApiError {
    use actix_web::error::PayloadError;
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than the service accepts",
        ),
        _ => ApiError::new(
            ErrorCode::BadRequest,
            format!("the body could not be read: {err}"),
        ),
    }
}
