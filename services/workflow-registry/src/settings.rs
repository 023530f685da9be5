//! The registry's settings.

use echoflow_service_kit::settings::{CommonSettings, Sources};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub registry: RegistrySettings,
}

/// `[registry]`: the registry's own knobs.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrySettings {
    /// How often each replica's scheduler looks for due schedules.
    pub scheduler_tick_ms: u64,
    /// Most nodes in one workflow.
    pub max_nodes: usize,
    /// Most edges in one workflow.
    pub max_edges: usize,
    /// How far a timestamped webhook signature's time may be from now.
    pub webhook_signature_tolerance_secs: i64,
    /// `key_id:base64(32 bytes)`, comma-separated: the keys webhook HMAC
    /// secrets are sealed under (see [`echoflow_crypto::Keyring`]).
    pub encryption_keys: SecretString,
    /// The key new secrets are sealed under.
    pub active_key_id: String,
    /// The longest a webhook caller waits for a `respond: when_finished`
    /// workflow, whatever its trigger asks (then 202 with the execution id).
    pub webhook_respond_max_secs: u64,
    /// The most webhook callers one replica keeps waiting at once; beyond,
    /// a `when_finished` call is refused with 503 and starts nothing.
    pub webhook_max_waiting: usize,
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        let sources = Sources::load("workflow-registry", overrides)?;
        Ok(Self {
            common: sources.common()?,
            registry: sources.section("registry")?,
        })
    }
}
