//! The gateway's settings.

use echoflow_service_kit::settings::{
    AuthSettings, BusSettings, DatabaseSettings, ServerSettings, ServicesSettings,
    TelemetrySettings,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub services: ServicesSettings,
    #[serde(default)]
    pub live: LiveSettings,
}

/// The live execution stream (`ECHOFLOW_LIVE__KEEP_ALIVE_SECS`, `ECHOFLOW_LIVE__BUFFER`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LiveSettings {
    /// Seconds between `: keep-alive` comments on an idle stream.
    pub keep_alive_secs: u64,
    /// Updates a slow client may fall behind before it skips ahead.
    pub buffer: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            keep_alive_secs: 15,
            buffer: 1024,
        }
    }
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        echoflow_service_kit::load_settings("gateway", overrides)
    }
}
