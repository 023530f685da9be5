//! CloudEvents 1.0 structured JSON <-> TriggerEvent.

use crate::v1::TriggerEvent;
use serde_json::{Map, Value};

/// Why a CloudEvent was refused; `field` names the attribute at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid CloudEvent: {field}: {message}")]
pub struct CloudEventError {
    pub field: String,
    pub message: String,
}

fn fault(field: &str, message: impl Into<String>) -> CloudEventError {
    CloudEventError {
        field: field.to_string(),
        message: message.into(),
    }
}

fn required_str(obj: &Map<String, Value>, field: &str) -> Result<String, CloudEventError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(fault(field, "must not be empty")),
        Some(_) => Err(fault(field, "must be a string")),
        None => Err(fault(field, "is required")),
    }
}

fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<String, CloudEventError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(fault(field, "must be a string")),
    }
}

impl TriggerEvent {
    /// Parses a CloudEvent in structured JSON mode, checking the required
    /// attributes (id, source, type, specversion "1.0") and the time format.
    pub fn from_cloudevent_json(body: &[u8]) -> Result<Self, CloudEventError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| fault("$", format!("not valid JSON: {e}")))?;
        Self::from_cloudevent_value(&value)
    }

    pub fn from_cloudevent_value(value: &Value) -> Result<Self, CloudEventError> {
        let obj = value
            .as_object()
            .ok_or_else(|| fault("$", "a CloudEvent must be a JSON object"))?;
        let specversion = required_str(obj, "specversion")?;
        if specversion != "1.0" {
            return Err(fault("specversion", "must be \"1.0\""));
        }
        let time = optional_str(obj, "time")?;
        if !time.is_empty() && chrono::DateTime::parse_from_rfc3339(&time).is_err() {
            return Err(fault("time", "must be an RFC 3339 timestamp"));
        }
        let event_type = required_str(obj, "type")?;
        if !is_valid_event_type(&event_type) {
            return Err(fault(
                "type",
                "must be dot-separated words of letters, digits, '_' or '-'",
            ));
        }
        let chatbot_id = optional_str(obj, "chatbotid")?;
        if !chatbot_id.is_empty() && uuid::Uuid::parse_str(&chatbot_id).is_err() {
            return Err(fault("chatbotid", "must be a UUID"));
        }
        let data = match obj.get("data") {
            None => Value::Null,
            Some(v) => v.clone(),
        };
        Ok(TriggerEvent {
            id: required_str(obj, "id")?,
            source: required_str(obj, "source")?,
            r#type: event_type,
            specversion,
            time,
            subject: optional_str(obj, "subject")?,
            datacontenttype: optional_str(obj, "datacontenttype")?,
            data_json: data.to_string(),
            chatbot_id,
            user_id: optional_str(obj, "userid")?,
        })
    }

    /// The event's data as JSON (null when absent or unreadable).
    pub fn data(&self) -> Value {
        serde_json::from_str(&self.data_json).unwrap_or(Value::Null)
    }

    /// The CloudEvents structured JSON form, as bytes for the bus.
    pub fn to_cloudevent_json(&self) -> Vec<u8> {
        self.to_cloudevent_value().to_string().into_bytes()
    }

    /// The CloudEvents structured JSON form.
    pub fn to_cloudevent_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("specversion".into(), Value::from("1.0"));
        obj.insert("id".into(), Value::from(self.id.clone()));
        obj.insert("source".into(), Value::from(self.source.clone()));
        obj.insert("type".into(), Value::from(self.r#type.clone()));
        for (key, val) in [
            ("time", &self.time),
            ("subject", &self.subject),
            ("datacontenttype", &self.datacontenttype),
            ("chatbotid", &self.chatbot_id),
            ("userid", &self.user_id),
        ] {
            if !val.is_empty() {
                obj.insert(key.into(), Value::from(val.clone()));
            }
        }
        obj.insert("data".into(), self.data());
        Value::Object(obj)
    }
}

fn is_valid_event_type(t: &str) -> bool {
    t.len() <= 200
        && t.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_the_data_cross_any_number_of_round_trips_exactly() {
        // found by fuzzing: without serde_json's float_roundtrip the second parse
        // gave 4.13333333333333e45 for 4.1333333333333296e45
        let body = br#"{"specversion": "1.0", "id": "41", "source": "s", "type": "t",
            "data": {"big": 41333333333333000000000008461573783842106029.5, "small": 0.30000000000000004}}"#;
        let first = TriggerEvent::from_cloudevent_json(body).unwrap();
        let mut event = first.clone();
        for _ in 0..3 {
            event = TriggerEvent::from_cloudevent_value(&event.to_cloudevent_value()).unwrap();
        }
        assert_eq!(event, first);
        assert_eq!(
            event.data()["small"],
            serde_json::json!(0.30000000000000004)
        );
    }

    #[test]
    fn round_trips_a_cloudevent() {
        let json = serde_json::json!({
            "specversion": "1.0", "id": "e1", "source": "/chat", "type": "message.received",
            "time": "2026-01-01T00:00:00Z", "chatbotid": "6f1c2a43-8a9e-4f7e-9a53-0a1f2b3c4d5e",
            "data": {"text": "hi"}
        });
        let ev = TriggerEvent::from_cloudevent_value(&json).unwrap();
        assert_eq!(ev.r#type, "message.received");
        assert_eq!(ev.data()["text"], "hi");
        let back = TriggerEvent::from_cloudevent_value(&ev.to_cloudevent_value()).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn refuses_malformed_events_naming_the_field() {
        let cases = [
            (
                serde_json::json!({"id": "1", "source": "s", "type": "a.b"}),
                "specversion",
            ),
            (
                serde_json::json!({"specversion": "1.0", "source": "s", "type": "a.b"}),
                "id",
            ),
            (
                serde_json::json!({"specversion": "1.0", "id": "1", "source": "s", "type": "a..b"}),
                "type",
            ),
            (
                serde_json::json!({"specversion": "1.0", "id": "1", "source": "s", "type": "a", "time": "yesterday"}),
                "time",
            ),
            (serde_json::json!([1, 2]), "$"),
        ];
        for (json, field) in cases {
            let err = TriggerEvent::from_cloudevent_value(&json).unwrap_err();
            assert_eq!(err.field, field, "{json}");
        }
        assert_eq!(
            TriggerEvent::from_cloudevent_json(b"{nope")
                .unwrap_err()
                .field,
            "$"
        );
    }
}
