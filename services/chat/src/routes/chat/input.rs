//! What the end user sent, checked: the message, an email address, an image URL.

use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::json;

use crate::routes::invalid;

pub(super) fn check_message(message: &str, max_chars: usize) -> Result<String, ApiError> {
    let message = message.trim();
    if message.is_empty() {
        return Err(invalid("message", "must not be empty"));
    }
    let chars = message.chars().count();
    if chars > max_chars {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("message: {chars} characters, at most {max_chars} are accepted"),
        )
        .with_details(json!({"path": "message", "max_chars": max_chars})));
    }
    Ok(message.to_string())
}

/// A plausible address, lower-cased: local@domain.tld, no spaces, at most 254 characters.
pub fn normalise_email(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let email = raw.to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if !valid {
        return Err(invalid("user_email", "is not an email address"));
    }
    Ok(Some(email))
}

pub(super) fn check_image_url(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if raw.len() > 2048 || !(raw.starts_with("https://") || raw.starts_with("http://")) {
        return Err(invalid(
            "image_url",
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    Ok(Some(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            normalise_email(Some(" Ann@Example.COM "))
                .unwrap()
                .as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(normalise_email(Some("")).unwrap(), None);
        for bad in [
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@@x.com",
            "a@x.com.",
        ] {
            assert!(normalise_email(Some(bad)).is_err(), "{bad}");
        }
    }
}
