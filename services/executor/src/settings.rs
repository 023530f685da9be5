//! The executor's settings.

use echoflow_service_kit::settings::{CommonSettings, Sources};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub executor: ExecutorSettings,
}

/// `[executor]`: how jobs run.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutorSettings {
    /// Comma-separated CIDRs that `action.http_request` may reach although
    /// they are private, loopback, link-local or metadata addresses.
    pub allow_networks: String,
    /// `public` (default): HTTP steps reach any public address plus
    /// `allow_networks`; `allowlist`: only `allow_networks`.
    #[serde(default)]
    pub egress: crate::engine::nodes::network::Egress,
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
    /// Finished executions older than this many days are pruned (0 keeps them).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// On SIGTERM, how long running steps may take to finish before their
    /// jobs are handed back to the queue.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Base URL of the OpenAI-compatible API `action.ai_text` calls
    /// (`{ai_base_url}/chat/completions`); empty: the node fails with a
    /// configuration error.
    pub ai_base_url: String,
    /// The model asked unless a node names one.
    pub ai_model: String,
    /// Sent as a bearer token when not empty.
    pub ai_api_key: SecretString,
    /// Timeout of one completion request.
    pub ai_timeout_ms: u64,
}

fn default_retention_days() -> u32 {
    30
}

fn default_shutdown_grace_secs() -> u64 {
    25
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        let sources = Sources::load("executor", overrides)?;
        Ok(Self {
            common: sources.common()?,
            executor: sources.section("executor")?,
        })
    }
}
