//! Typed settings: built-in defaults, then `config/base.toml`, then
//! `config/<ECHOFLOW_ENV>.toml`, then `ECHOFLOW_<SECTION>__<KEY>` variables.

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Where a service listens.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

/// The service's database: `postgres://...` (the service uses its own schema)
/// or `sqlite://<file>` (one file per schema slice).
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

/// The message bus: `amqp://...` for RabbitMQ; `inprocess` only inside `echoflow up`.
#[derive(Debug, Clone, Deserialize)]
pub struct BusSettings {
    pub url: SecretString,
    pub prefetch: u16,
}

/// Token signing and service-to-service authentication.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    /// Shared secret that internal (service-to-service) calls present.
    pub internal_token: SecretString,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
}

/// Logs and traces.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// An EnvFilter directive, e.g. `info,sqlx=warn`.
    pub log_level: String,
    /// `json` or `pretty`.
    pub log_format: String,
    /// OTLP/HTTP traces endpoint (e.g. `http://127.0.0.1:4318/v1/traces`); off when empty.
    pub otlp_endpoint: Option<String>,
}

/// How services reach each other.
#[derive(Debug, Clone, Deserialize)]
pub struct ServicesSettings {
    pub registry_url: String,
    pub executor_url: String,
    pub chat_url: String,
    pub integrations_url: String,
    /// The public base URL, used to build links such as `webhook_url`.
    pub public_url: String,
}

/// The sections every service reads, each under its own key as before
/// (`[server]`, `ECHOFLOW_SERVER__PORT`, ...). A service's `Settings` holds
/// them as `common`, next to the service's own sections.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub services: ServicesSettings,
}

const DEFAULTS: &str = r#"
[server]
host = "0.0.0.0"
max_body_bytes = 1048576

[database]
url = "postgres://postgres@127.0.0.1:5432/echoflow"
max_connections = 20

[bus]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
prefetch = 32

[auth]
jwt_secret = "change-me-in-production-this-is-only-a-development-secret"
internal_token = "change-me-internal-development-token"
access_token_ttl_secs = 900
refresh_token_ttl_secs = 2592000

[telemetry]
log_level = "info,sqlx=warn,sea_orm=warn,lapin=warn"
log_format = "json"

[services]
registry_url = "http://127.0.0.1:8081"
executor_url = "http://127.0.0.1:8082"
chat_url = "http://127.0.0.1:8083"
integrations_url = "http://127.0.0.1:8084"
public_url = "http://127.0.0.1:8080"

[registry]
scheduler_tick_ms = 1000
# A workflow has at most this many nodes and edges (422 INVALID_WORKFLOW beyond).
max_nodes = 500
max_edges = 2000
# A timestamped webhook signature (t=<unix>,v1=<hex>) is accepted this many
# seconds either side of the registry's clock.
webhook_signature_tolerance_secs = 300
# Keys that seal webhook HMAC secrets at rest, as integrations.encryption_keys
# (the development key below is public; `echoflow up` passes the generated
# data/integrations.keys).
encryption_keys = "dev:ZWNob2Zsb3ctZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZXM="
active_key_id = "dev"
# A webhook whose trigger sets respond = "when_finished" keeps its caller
# waiting at most this long (the trigger's respond_timeout_seconds, capped
# here), then answers 202 with the execution id. Keep it under the gateway's
# 60 s upstream timeout.
webhook_respond_max_secs = 50
# At most this many callers wait at once per registry replica; more are
# answered 503 (Retry-After) and start nothing.
webhook_max_waiting = 1000

[executor]
allow_networks = ""
# public: HTTP steps reach any public address plus allow_networks;
# allowlist: only allow_networks (nothing leaves those networks).
egress = "public"
concurrency = 32
http_timeout_ms = 30000
max_output_bytes = 1048576
retention_days = 30
shutdown_grace_secs = 25
ai_base_url = ""
ai_model = "gpt-4o-mini"
ai_api_key = ""
ai_timeout_ms = 30000

[chat]
max_message_chars = 4000
memory_window = 10
fallback_message = "Sorry, I don't have an answer to that yet. Could you rephrase, or leave your email so a person can get back to you?"
provider_base_url = ""
provider_model = "gpt-4o-mini"
provider_api_key = ""
provider_timeout_ms = 15000

[integrations]
# Token encryption keys, "key_id:base64(32 bytes)" separated by commas; new
# and re-encrypted tokens use `active_key_id`. The development key below is
# public: set your own in production (`echoflow up` generates one).
encryption_keys = "dev:ZWNob2Zsb3ctZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZXM="
active_key_id = "dev"
# Where providers send the browser back; empty = services.public_url.
redirect_base_url = ""
# A connect must be completed within this many seconds (its state expires).
state_ttl_secs = 600
# Access tokens are refreshed this long before they expire.
refresh_margin_secs = 120
# A provider call waits at most this long for its rate limiter (or a
# provider's Retry-After) before answering 429 to the executor.
max_limiter_wait_ms = 5000
request_timeout_ms = 15000

[integrations.providers.slack]
client_id = ""
client_secret = ""
authorize_url = "https://slack.com/oauth/v2/authorize"
token_url = "https://slack.com/api/oauth.v2.access"
api_base_url = "https://slack.com/api"
# Where a deleted connection's grant is revoked; empty = not revoked.
revoke_url = "https://slack.com/api/auth.revoke"
scopes = "chat:write,channels:read"
requests_per_minute = 50
burst = 5

[integrations.providers.hubspot]
client_id = ""
client_secret = ""
authorize_url = "https://app.hubspot.com/oauth/authorize"
token_url = "https://api.hubapi.com/oauth/v1/token"
api_base_url = "https://api.hubapi.com"
# DELETE <revoke_url>/<refresh token>.
revoke_url = "https://api.hubapi.com/oauth/v1/refresh-tokens"
scopes = "crm.objects.contacts.read,crm.objects.contacts.write"
requests_per_minute = 600
burst = 10

[integrations.providers.google_sheets]
client_id = ""
client_secret = ""
authorize_url = "https://accounts.google.com/o/oauth2/v2/auth"
token_url = "https://oauth2.googleapis.com/token"
api_base_url = "https://sheets.googleapis.com"
revoke_url = "https://oauth2.googleapis.com/revoke"
# openid + email: the ID token names the Google account, so connecting the
# same account again updates its connection.
scopes = "https://www.googleapis.com/auth/spreadsheets openid email"
requests_per_minute = 60
burst = 5

[integrations.providers.salesforce]
client_id = ""
client_secret = ""
authorize_url = "https://login.salesforce.com/services/oauth2/authorize"
token_url = "https://login.salesforce.com/services/oauth2/token"
# Empty = the instance_url the token endpoint returns.
api_base_url = ""
revoke_url = "https://login.salesforce.com/services/oauth2/revoke"
scopes = "api refresh_token"
requests_per_minute = 100
burst = 10
"#;

/// The built-in default of `key` (e.g. `auth.jwt_secret`), if it has one:
/// the values that no deployment may keep for its secrets.
pub(crate) fn built_in_default(key: &str) -> Option<String> {
    config::Config::builder()
        .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
        .build()
        .ok()?
        .get_string(key)
        .ok()
}

/// The port each service listens on unless told otherwise.
pub fn default_port(service: &str) -> u16 {
    match service {
        "workflow-registry" => 8081,
        "executor" => 8082,
        "chat" => 8083,
        "integrations" => 8084,
        _ => 8080,
    }
}

/// Loads the settings of `service`. `overrides` (key, value) pairs are applied
/// last; `echoflow up` uses them to wire the embedded services together.
pub fn load_settings<T: DeserializeOwned>(
    service: &str,
    overrides: &[(&str, String)],
) -> Result<T, config::ConfigError> {
    Sources::load(service, overrides)?.0.try_deserialize()
}

/// Every source of one service's settings, merged: a service reads its
/// [`CommonSettings`] and its own sections from it.
pub struct Sources(config::Config);

impl Sources {
    /// Built-in defaults, the config files, `ECHOFLOW_<SECTION>__<KEY>`
    /// variables, then `overrides`.
    pub fn load(service: &str, overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        let dir = config_dir();
        let env_name = environment_name();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .set_default("server.port", i64::from(default_port(service)))?
            .add_source(config::File::from(dir.join("base")).required(false))
            .add_source(config::File::from(dir.join(&env_name)).required(false))
            .add_source(config::File::from(dir.join(service)).required(false))
            .add_source(
                config::Environment::with_prefix("ECHOFLOW")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true),
            );
        for (key, value) in overrides {
            builder = builder.set_override(*key, value.clone())?;
        }
        Ok(Self(builder.build()?))
    }

    /// `[server]`, `[database]`, `[bus]`, `[auth]`, `[telemetry]` and `[services]`.
    pub fn common(&self) -> Result<CommonSettings, config::ConfigError> {
        self.0.clone().try_deserialize()
    }

    /// The section at `key` (e.g. `chat`), which must be there.
    pub fn section<T: DeserializeOwned>(&self, key: &str) -> Result<T, config::ConfigError> {
        self.0.get(key)
    }

    /// The section at `key`, or its defaults when no source has it.
    pub fn section_or_default<T: DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, config::ConfigError> {
        match self.0.get::<config::Value>(key) {
            Err(config::ConfigError::NotFound(_)) => Ok(T::default()),
            Err(other) => Err(other),
            Ok(_) => self.0.get(key),
        }
    }
}

/// `ECHOFLOW_CONFIG_DIR`, else `./config`.
fn config_dir() -> std::path::PathBuf {
    config::Config::builder()
        .add_source(config::Environment::with_prefix("ECHOFLOW").prefix_separator("_"))
        .build()
        .ok()
        .and_then(|c| c.get_string("config_dir").ok())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("config"))
}

/// `ECHOFLOW_ENV` (e.g. `production`), else `local`.
fn environment_name() -> String {
    config::Config::builder()
        .add_source(config::Environment::with_prefix("ECHOFLOW").prefix_separator("_"))
        .build()
        .ok()
        .and_then(|c| c.get_string("env").ok())
        .unwrap_or_else(|| "local".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        server: ServerSettings,
        auth: AuthSettings,
    }

    #[test]
    fn defaults_give_each_service_its_port_and_overrides_win() {
        let p: Probe = load_settings("executor", &[]).unwrap();
        assert_eq!(p.server.port, 8082);
        assert_eq!(p.auth.access_token_ttl_secs, 900);
        let p: Probe = load_settings("gateway", &[("server.port", "9999".into())]).unwrap();
        assert_eq!(p.server.port, 9999);
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Absent {
        knob: u32,
    }

    #[test]
    fn common_and_own_sections_come_from_the_same_sources() {
        let sources = Sources::load("chat", &[("server.port", "0".into())]).unwrap();
        let common = sources.common().unwrap();
        assert_eq!(common.server.port, 0);
        assert_eq!(common.services.chat_url, "http://127.0.0.1:8083");
        let window: u32 = sources.section("chat.memory_window").unwrap();
        assert_eq!(window, 10);
        assert!(sources.section::<Absent>("absent").is_err());
        assert_eq!(
            sources.section_or_default::<Absent>("absent").unwrap(),
            Absent::default()
        );
        let sources = Sources::load("chat", &[("absent.knob", "7".into())]).unwrap();
        assert_eq!(
            sources.section_or_default::<Absent>("absent").unwrap().knob,
            7
        );
    }
}
