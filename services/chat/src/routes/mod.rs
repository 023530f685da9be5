//! HTTP routes of the chat service.

pub mod chat;
pub mod chatbots;
pub mod conversations;
pub mod end_users;
pub mod faqs;
pub mod intents;
pub mod internal;
pub mod sessions;
pub mod widget;

use echoflow_service_kit::ApiError;
use serde_json::json;

/// A 422 naming the field at fault.
pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::validation(
        format!("{field}: {message}"),
        json!({"path": field, "message": message}),
    )
}

/// A required text field: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(value.to_string())
}

/// An optional text field: None stays None, otherwise as [`required_text`].
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value.map(|v| required_text(field, v, max)).transpose()
}
