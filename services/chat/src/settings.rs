//! The chat service's settings.

use echoflow_service_kit::settings::{CommonSettings, Sources};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub chat: ChatSettings,
}

/// `[chat]`: conversations and the reply provider.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatSettings {
    /// Longest accepted chat message, in characters (413 beyond).
    pub max_message_chars: usize,
    /// Turns (a user message and its reply) of memory given to the provider,
    /// unless a chatbot sets its own `memory_window`.
    pub memory_window: u32,
    /// A message without `session_id` continues the same user's latest
    /// conversation if it is younger than this; otherwise it opens a new one.
    pub session_idle_secs: i64,
    /// The answer when nothing better is known, unless a chatbot sets its own.
    pub fallback_message: String,
    /// Base URL of an OpenAI-compatible API (`.../v1`); empty = built-in responder only.
    pub provider_base_url: String,
    pub provider_model: String,
    pub provider_api_key: SecretString,
    /// A provider slower than this is abandoned for the built-in responder.
    pub provider_timeout_ms: u64,
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        let sources = Sources::load("chat", overrides)?;
        Ok(Self {
            common: sources.common()?,
            chat: sources.section("chat")?,
        })
    }
}
