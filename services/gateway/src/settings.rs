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
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        echoflow_service_kit::load_settings("gateway", overrides)
    }
}
