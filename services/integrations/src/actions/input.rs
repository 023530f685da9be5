//! Reading an action's input (the object and its fields, a fault as 422 naming
//! `input.<field>`) and building a provider URL from path segments.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};

/// `base` with `segments` appended as path segments (each percent-encoded).
pub fn url_with(mut base: url::Url, segments: &[&str]) -> url::Url {
    if let Ok(mut path) = base.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    base
}

/// The input as an object.
pub(super) fn object(input: &Value) -> Result<&Map<String, Value>, Error> {
    input
        .as_object()
        .ok_or_else(|| invalid("input", "must be an object"))
}

/// A required, non-empty string field.
pub(super) fn required_str(input: &Map<String, Value>, field: &str) -> Result<String, Error> {
    match optional_str(input, field)? {
        Some(s) => Ok(s),
        None => Err(invalid(&format!("input.{field}"), "is required")),
    }
}

/// An optional string field: absent, null or blank is None; numbers are
/// taken as their text (a phone number often arrives as one).
pub(super) fn optional_str(
    input: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, Error> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(&format!("input.{field}"), "must be a string")),
    }
}

/// An optional object field.
pub(super) fn optional_object(
    input: &Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, Error> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(invalid(&format!("input.{field}"), "must be an object")),
    }
}
