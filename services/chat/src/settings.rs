//! The chat service's settings.

use echoflow_service_kit::settings::{CommonSettings, Sources};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub chat: ChatSettings,
    pub session_stream: SessionStreamSettings,
}

/// `[chat]`: conversations and the reply provider.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatSettings {
    /// Longest accepted chat message, in characters (413 beyond).
    pub max_message_chars: usize,
    /// Turns (a user message and its reply) of memory given to the provider,
    /// unless a chatbot sets its own `memory_window`.
    pub memory_window: u32,
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
            session_stream: sources.section_or_default("session_stream")?,
        })
    }
}

/// `[session_stream]`: the end user's live stream of a conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionStreamSettings {
    /// An idle stream sends `: keep-alive` this often.
    pub keep_alive_secs: u64,
    /// Messages one stream may have waiting; a stream further behind is
    /// closed, and its client reconnects with `Last-Event-ID`.
    pub buffer: usize,
    /// Streams open at once on one conversation, per chat replica (429 beyond).
    pub max_per_session: usize,
    /// Streams open at once on one chat replica, all conversations (503 with
    /// `Retry-After` beyond).
    pub max_open: usize,
    /// How often each replica checks that its open streams may go on: a stream
    /// whose chatbot key was rotated, whose chatbot was deleted or whose
    /// conversation was erased ends within this many seconds.
    pub recheck_secs: u64,
}

impl Default for SessionStreamSettings {
    fn default() -> Self {
        Self {
            keep_alive_secs: 15,
            buffer: 64,
            max_per_session: 8,
            max_open: 10_000,
            recheck_secs: 2,
        }
    }
}
