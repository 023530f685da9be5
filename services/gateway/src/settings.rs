//! The gateway's settings.

use echoflow_service_kit::settings::{CommonSettings, Sources};
use serde::Deserialize;

pub use crate::cors::CorsSettings;
pub use crate::docs::OpenApiSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub cors: CorsSettings,
    pub live: LiveSettings,
    pub openapi: OpenApiSettings,
    pub rate_limit: RateLimitSettings,
}

/// Rate limits (`ECHOFLOW_RATE_LIMIT__<KEY>`). Sign-in and registration count in
/// the identity database, so the limits hold across gateway replicas; the API
/// and chat limits are kept by each gateway process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Attempts per window on `/auth/token` and on `/auth/register` for one email address.
    pub auth_per_account: u32,
    /// Attempts per window on `/auth/token` and on `/auth/register` from one client address.
    pub auth_per_ip: u32,
    /// The length of the sign-in and registration window, in seconds.
    pub auth_window_secs: u32,
    /// Requests per minute of one signed-in user, per gateway process.
    pub api_per_user_per_minute: u32,
    /// Requests per minute with one chatbot key on the widget's routes (`/api/v1/chat`
    /// and below), per gateway process.
    pub chat_per_key_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (the one the
    /// proxy in front of the gateway added); only behind such a proxy.
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            auth_per_account: 10,
            auth_per_ip: 30,
            auth_window_secs: 60,
            api_per_user_per_minute: 3000,
            chat_per_key_per_minute: 600,
            trust_forwarded_for: false,
        }
    }
}

/// The live streams (`ECHOFLOW_LIVE__KEEP_ALIVE_SECS`, `__BUFFER`, `__COUNTERS_SECS`, `__MAX_STREAM_SECS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LiveSettings {
    /// Seconds between `: keep-alive` comments on an idle stream.
    pub keep_alive_secs: u64,
    /// Updates a slow client may fall behind before it skips ahead.
    pub buffer: usize,
    /// Seconds between two counters snapshots of `/api/v1/analytics/stream`.
    pub counters_secs: u64,
    /// Seconds after which `/api/v1/analytics/stream` ends (`EventSource` reconnects).
    pub max_stream_secs: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            keep_alive_secs: 15,
            buffer: 1024,
            counters_secs: 5,
            max_stream_secs: 3600,
        }
    }
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        let sources = Sources::load("gateway", overrides)?;
        Ok(Self {
            common: sources.common()?,
            cors: sources.section_or_default("cors")?,
            live: sources.section_or_default("live")?,
            openapi: sources.section_or_default("openapi")?,
            rate_limit: sources.section_or_default("rate_limit")?,
        })
    }
}
