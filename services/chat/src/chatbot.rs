//! A chatbot's own settings: how it answers. Typed so that a typo in a
//! setting is a 422, not a silently ignored key.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Which responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResponderKind {
    /// The configured provider when there is one, else the built-in responder.
    #[default]
    Auto,
    /// Always the built-in FAQ responder.
    Builtin,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatbotSettings {
    /// Instructions given to the provider before the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The answer when no FAQ matches (built-in responder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_message: Option<String>,
    /// Turns of memory given to the provider (0 to 50; default from the service settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_window: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responder: Option<ResponderKind>,
    /// The provider's model for this chatbot (default from the service settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// How sure the built-in responder must be of an FAQ match, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faq_min_confidence: Option<f64>,
    /// How sure intent detection must be, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_min_confidence: Option<f64>,
}

pub const MAX_MEMORY_WINDOW: u32 = 50;

impl ChatbotSettings {
    /// Parses and checks settings from a request; the error names the field.
    pub fn parse(raw: &Value) -> Result<Self, (String, String)> {
        if raw.is_null() {
            return Ok(Self::default());
        }
        // serde would read a struct from an array too (`["..."]` as the system prompt).
        if !raw.is_object() {
            return Err(("settings".into(), "must be an object".into()));
        }
        let settings: Self = serde_json::from_value(raw.clone())
            .map_err(|e| ("settings".to_string(), e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// Reads stored settings; anything unreadable falls back to defaults.
    pub fn from_stored(raw: &Value) -> Self {
        serde_json::from_value(raw.clone()).unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({}))
    }

    fn check(&self) -> Result<(), (String, String)> {
        let fault = |field: &str, msg: &str| Err((format!("settings.{field}"), msg.to_string()));
        if let Some(w) = self.memory_window
            && w > MAX_MEMORY_WINDOW
        {
            return fault("memory_window", "must be between 0 and 50");
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return fault("temperature", "must be between 0 and 2");
        }
        for (field, value) in [
            ("faq_min_confidence", self.faq_min_confidence),
            ("intent_min_confidence", self.intent_min_confidence),
        ] {
            if let Some(v) = value
                && !(0.0..=1.0).contains(&v)
            {
                return fault(field, "must be between 0 and 1");
            }
        }
        for (field, value, max) in [
            ("system_prompt", &self.system_prompt, 8000),
            ("fallback_message", &self.fallback_message, 2000),
            ("model", &self.model, 200),
        ] {
            if let Some(v) = value
                && (v.trim().is_empty() || v.chars().count() > max)
            {
                return fault(field, &format!("must hold 1 to {max} characters"));
            }
        }
        Ok(())
    }

    /// Merges `patch` over these settings (keys present in the patch win; a null removes).
    pub fn merged(&self, patch: &Value) -> Result<Self, (String, String)> {
        let mut base = self.to_json();
        if let (Some(base), Some(patch)) = (base.as_object_mut(), patch.as_object()) {
            for (k, v) in patch {
                if v.is_null() {
                    base.remove(k);
                } else {
                    base.insert(k.clone(), v.clone());
                }
            }
        } else if !patch.is_object() {
            return Err(("settings".into(), "must be an object".into()));
        }
        Self::parse(&base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_keys_and_out_of_range_values() {
        assert!(ChatbotSettings::parse(&json!({"memory_windw": 3})).is_err());
        assert_eq!(
            ChatbotSettings::parse(&json!({"memory_window": 51}))
                .unwrap_err()
                .0,
            "settings.memory_window"
        );
        assert!(ChatbotSettings::parse(&json!({"temperature": 3.0})).is_err());
        let ok =
            ChatbotSettings::parse(&json!({"memory_window": 3, "responder": "builtin"})).unwrap();
        assert_eq!(ok.memory_window, Some(3));
        let merged = ok
            .merged(&json!({"memory_window": null, "model": "m"}))
            .unwrap();
        assert_eq!(merged.memory_window, None);
        assert_eq!(merged.responder, Some(ResponderKind::Builtin));
    }
}
