//! How a chatbot's widget looks on the customer's page (`settings.widget`):
//! colours, position, avatar, title and whether it shows the FAQ tab, as
//! seed 001's widget props list them. The welcome message is the chatbot's
//! own `welcome_message`. Stored checked, served resolved (every field
//! filled in) with the chatbot's public config.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where the widget's launcher sits on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum WidgetPosition {
    #[default]
    BottomRight,
    BottomLeft,
}

pub const TITLE_MAX: usize = 80;
pub const AVATAR_URL_MAX: usize = 2048;
pub const DEFAULT_PRIMARY_COLOR: &str = "#2563eb";
pub const DEFAULT_BACKGROUND_COLOR: &str = "#ffffff";
pub const DEFAULT_TEXT_COLOR: &str = "#111827";

/// The widget's appearance as its owner set it; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetSettings {
    /// The widget's header (default: the chatbot's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    pub title: Option<String>,
    /// The launcher, the header and the end user's bubbles, as `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^#[0-9a-fA-F]{6}$", example = "#2563eb")]
    pub primary_color: Option<String>,
    /// The conversation's background, as `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^#[0-9a-fA-F]{6}$", example = "#ffffff")]
    pub background_color: Option<String>,
    /// The text, as `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^#[0-9a-fA-F]{6}$", example = "#111827")]
    pub text_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<WidgetPosition>,
    /// The assistant's picture: an `https` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 2048,
        pattern = "^https://",
        example = "https://cdn.example.com/bot.png"
    )]
    pub avatar_url: Option<String>,
    /// Whether the widget offers its FAQ tab (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faq_enabled: Option<bool>,
}

/// The appearance a widget renders: the owner's settings over the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WidgetAppearance {
    pub title: String,
    #[schema(example = "#2563eb")]
    pub primary_color: String,
    #[schema(example = "#ffffff")]
    pub background_color: String,
    #[schema(example = "#111827")]
    pub text_color: String,
    pub position: WidgetPosition,
    pub avatar_url: Option<String>,
}

impl WidgetSettings {
    /// Checks every field and normalises it (trimmed title, lower-case
    /// colours); the fault names its path under `settings.widget`.
    pub fn check(&mut self) -> Result<(), (String, String)> {
        let fault = |field: &str, msg: String| Err((format!("settings.widget.{field}"), msg));
        if let Some(title) = &mut self.title {
            let trimmed = title.trim();
            if trimmed.is_empty() || title.chars().count() > TITLE_MAX {
                return fault("title", format!("must hold 1 to {TITLE_MAX} characters"));
            }
            *title = trimmed.to_string();
        }
        for (field, value) in [
            ("primary_color", &mut self.primary_color),
            ("background_color", &mut self.background_color),
            ("text_color", &mut self.text_color),
        ] {
            if let Some(colour) = value {
                match hex_colour(colour) {
                    Some(normalised) => *colour = normalised,
                    None => return fault(field, "must be a colour as #rrggbb".into()),
                }
            }
        }
        if let Some(url) = &self.avatar_url {
            check_avatar_url(url).or_else(|msg| fault("avatar_url", msg))?;
        }
        Ok(())
    }

    /// What the widget renders, for a chatbot called `name`.
    pub fn resolved(&self, name: &str) -> WidgetAppearance {
        let colour = |value: &Option<String>, default: &str| {
            value.clone().unwrap_or_else(|| default.to_string())
        };
        WidgetAppearance {
            title: self.title.clone().unwrap_or_else(|| name.to_string()),
            primary_color: colour(&self.primary_color, DEFAULT_PRIMARY_COLOR),
            background_color: colour(&self.background_color, DEFAULT_BACKGROUND_COLOR),
            text_color: colour(&self.text_color, DEFAULT_TEXT_COLOR),
            position: self.position.unwrap_or_default(),
            avatar_url: self.avatar_url.clone(),
        }
    }
}

/// `#rrggbb` in lower case, if `raw` is one.
fn hex_colour(raw: &str) -> Option<String> {
    let digits = raw.strip_prefix('#')?;
    (digits.len() == 6 && digits.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| raw.to_ascii_lowercase())
}

/// An avatar is shown on customers' pages: only `https`, to a named host, without credentials.
fn check_avatar_url(raw: &str) -> Result<(), String> {
    if raw.chars().count() > AVATAR_URL_MAX {
        return Err(format!("must be at most {AVATAR_URL_MAX} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|_| "must be an https URL".to_string())?;
    if url.scheme() != "https" || url.host().is_none() {
        return Err("must be an https URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(widget: WidgetSettings) -> Result<WidgetSettings, String> {
        let mut widget = widget;
        widget.check().map(|()| widget).map_err(|(path, _)| path)
    }

    #[test]
    fn colours_are_hex_triplets_stored_in_lower_case() {
        let ok = checked(WidgetSettings {
            primary_color: Some("#A1B2C3".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.primary_color.as_deref(), Some("#a1b2c3"));
        for bad in ["a1b2c3", "#abc", "#a1b2c3d4", "#ggghhh", "red", "#a1b2c"] {
            let refused = checked(WidgetSettings {
                text_color: Some(bad.into()),
                ..Default::default()
            });
            assert_eq!(refused.unwrap_err(), "settings.widget.text_color", "{bad}");
        }
    }

    #[test]
    fn avatars_are_https_urls_and_titles_bounded() {
        assert!(
            checked(WidgetSettings {
                avatar_url: Some("https://cdn.example.com/a.png".into()),
                ..Default::default()
            })
            .is_ok()
        );
        for bad in [
            "http://cdn.example.com/a.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "https://user:pw@cdn.example.com/a.png",
            "cdn.example.com/a.png",
        ] {
            let refused = checked(WidgetSettings {
                avatar_url: Some(bad.into()),
                ..Default::default()
            });
            assert_eq!(refused.unwrap_err(), "settings.widget.avatar_url", "{bad}");
        }
        let long = format!("https://cdn.example.com/{}", "a".repeat(AVATAR_URL_MAX));
        assert!(
            checked(WidgetSettings {
                avatar_url: Some(long),
                ..Default::default()
            })
            .is_err()
        );
        // As the schema says: at most 80 characters as sent, padding included.
        for bad in [
            "  ".to_string(),
            "t".repeat(TITLE_MAX + 1),
            format!(" {}", "t".repeat(TITLE_MAX)),
        ] {
            let refused = checked(WidgetSettings {
                title: Some(bad),
                ..Default::default()
            });
            assert_eq!(refused.unwrap_err(), "settings.widget.title");
        }
    }

    #[test]
    fn the_resolved_appearance_fills_in_the_defaults() {
        let resolved = WidgetSettings {
            text_color: Some("#000000".into()),
            position: Some(WidgetPosition::BottomLeft),
            ..Default::default()
        }
        .resolved("Shop bot");
        assert_eq!(resolved.title, "Shop bot");
        assert_eq!(resolved.primary_color, DEFAULT_PRIMARY_COLOR);
        assert_eq!(resolved.text_color, "#000000");
        assert_eq!(resolved.position, WidgetPosition::BottomLeft);
        assert_eq!(resolved.avatar_url, None);
    }
}
