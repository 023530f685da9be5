//! The registry's settings.

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
    pub registry: RegistrySettings,
}

/// `[registry]`: the registry's own knobs.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrySettings {
    /// How often each replica's scheduler looks for due schedules.
    pub scheduler_tick_ms: u64,
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        echoflow_service_kit::load_settings("workflow-registry", overrides)
    }
}
