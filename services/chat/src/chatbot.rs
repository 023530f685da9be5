//! A chatbot's own settings: how it answers. Typed so that a typo in a
//! setting is a 422, not a silently ignored key.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::appearance::WidgetSettings;
use crate::origin::{self, MAX_ALLOWED_ORIGINS};

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
    /// The web origins whose pages may call the widget routes (`POST /api/v1/chat`,
    /// `/api/v1/chat/...`), as `https://shop.example.com`; empty (the default) allows
    /// any. Stored as browsers send them (lower case, no default port).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50, example = json!(["https://shop.example.com"]))]
    pub allowed_origins: Vec<String>,
    /// How the chat widget looks; merged key by key on update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<WidgetSettings>,
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
        // Read apart first, so that a fault inside it names `settings.widget`.
        if let Some(widget) = raw.get("widget").filter(|w| !w.is_null()) {
            if !widget.is_object() {
                return Err(("settings.widget".into(), "must be an object".into()));
            }
            serde_json::from_value::<WidgetSettings>(widget.clone())
                .map_err(|e| ("settings.widget".to_string(), e.to_string()))?;
        }
        let mut settings: Self = serde_json::from_value(raw.clone())
            .map_err(|e| ("settings".to_string(), e.to_string()))?;
        settings.check()?;
        settings.normalise()?;
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

    /// Puts the allowed origins and the widget's fields in their stored form
    /// (origins as browsers send them, without repeats); the fault names its path.
    fn normalise(&mut self) -> Result<(), (String, String)> {
        if self.allowed_origins.len() > MAX_ALLOWED_ORIGINS {
            return Err((
                "settings.allowed_origins".into(),
                format!("lists at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        let mut origins: Vec<String> = Vec::with_capacity(self.allowed_origins.len());
        for (i, raw) in self.allowed_origins.iter().enumerate() {
            let origin = origin::normalise(raw)
                .map_err(|msg| (format!("settings.allowed_origins.{i}"), msg))?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        self.allowed_origins = origins;
        if let Some(widget) = &mut self.widget {
            widget.check()?;
        }
        Ok(())
    }

    /// Merges `patch` over these settings (keys present in the patch win; a null removes).
    /// An object (`widget`) is merged key by key the same way.
    pub fn merged(&self, patch: &Value) -> Result<Self, (String, String)> {
        let mut base = self.to_json();
        if let (Some(base), Some(patch)) = (base.as_object_mut(), patch.as_object()) {
            merge_object(base, patch);
        } else if !patch.is_object() {
            return Err(("settings".into(), "must be an object".into()));
        }
        Self::parse(&base)
    }
}

/// `patch`'s keys over `base`'s: a null removes, an object merges into an object.
fn merge_object(base: &mut serde_json::Map<String, Value>, patch: &serde_json::Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            base.remove(k);
            continue;
        }
        if let (Some(Value::Object(inner)), Value::Object(inner_patch)) = (base.get_mut(k), v) {
            merge_object(inner, inner_patch);
            continue;
        }
        base.insert(k.clone(), v.clone());
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

    #[test]
    fn origins_are_stored_normalised_once_and_bad_ones_name_their_index() {
        let ok = ChatbotSettings::parse(&json!({"allowed_origins": [
            "https://Shop.example.com", "https://shop.example.com:443/", "http://localhost:3000"
        ]}))
        .unwrap();
        assert_eq!(
            ok.allowed_origins,
            ["https://shop.example.com", "http://localhost:3000"]
        );
        let (path, _) = ChatbotSettings::parse(
            &json!({"allowed_origins": ["https://a.example", "https://b.example/path"]}),
        )
        .unwrap_err();
        assert_eq!(path, "settings.allowed_origins.1");
        let many: Vec<String> = (0..=MAX_ALLOWED_ORIGINS)
            .map(|i| format!("https://s{i}.example"))
            .collect();
        let (path, _) = ChatbotSettings::parse(&json!({"allowed_origins": many})).unwrap_err();
        assert_eq!(path, "settings.allowed_origins");
    }

    #[test]
    fn the_widget_merges_key_by_key_and_a_null_resets_a_key() {
        let base = ChatbotSettings::parse(&json!({"widget": {
            "title": "Help", "primary_color": "#112233", "position": "bottom_left"
        }}))
        .unwrap();
        let merged = base
            .merged(&json!({"widget": {"primary_color": "#AABBCC", "title": null}}))
            .unwrap();
        let widget = merged.widget.unwrap();
        assert_eq!(widget.primary_color.as_deref(), Some("#aabbcc"));
        assert_eq!(widget.title, None);
        assert_eq!(
            widget.position,
            Some(crate::appearance::WidgetPosition::BottomLeft)
        );
        let (path, msg) = base
            .merged(&json!({"widget": {"position": "top_middle"}}))
            .unwrap_err();
        assert_eq!(path, "settings.widget");
        assert!(msg.contains("bottom_left"), "{msg}");
        assert!(
            base.merged(&json!({"widget": {"colour": "#000000"}}))
                .is_err()
        );
    }
}
