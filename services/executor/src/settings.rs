//! The executor's settings.

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
    pub executor: ExecutorSettings,
}

/// `[executor]`: how jobs run.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutorSettings {
    /// Comma-separated CIDRs that `action.http_request` may reach although
    /// they are private, loopback, link-local or metadata addresses.
    pub allow_networks: String,
    /// Jobs run at once (the queue prefetch).
    pub concurrency: u16,
    /// Default timeout of one HTTP request step.
    pub http_timeout_ms: u64,
    /// Largest step output (JSON bytes); a larger one fails the step, never truncated.
    pub max_output_bytes: usize,
    /// Re-queue executions left `queued` or `running` when the process
    /// starts. Only for the in-process bus, whose queue does not outlive the
    /// process; RabbitMQ keeps unfinished jobs itself.
    #[serde(default)]
    pub recover_on_start: bool,
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        echoflow_service_kit::load_settings("executor", overrides)
    }
}
