//! `echoflow up`: every service in one process, wired over loopback and one
//! in-process bus, each with its own SQLite file.

use clap::Args;
use echoflow_bus::{InProcessBus, SharedBus};
use echoflow_service_kit::Service;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct UpArgs {
    /// Port of the public API.
    #[arg(long, default_value_t = 8080, env = "ECHOFLOW_PORT")]
    port: u16,
    /// Address the public API listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Folder of the SQLite files (one per schema slice) and the generated secrets.
    #[arg(long, default_value = "./data", env = "ECHOFLOW_DATA_DIR")]
    data_dir: PathBuf,
}

fn sqlite_url(dir: &Path, slice: &str) -> String {
    format!("sqlite://{}/{slice}.db?mode=rwc", dir.display())
}

/// A secret kept in the data folder, created on first start, so tokens
/// survive restarts without shipping a known default.
fn persistent_secret(dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    crate::data_dir::write_private(&path, &secret)?;
    Ok(secret)
}

/// The token encryption keys of the embedded integrations service, kept in
/// `integrations.keys` (a `key_id:base64` line per key; the last one is
/// active), created on first start. `echoflow integrations rotate-key`
/// appends a new key and re-encrypts the tokens under it.
pub fn integration_keys(dir: &Path) -> anyhow::Result<(String, String)> {
    let path = dir.join("integrations.keys");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let mut keys: Vec<String> = existing
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if keys.is_empty() {
        keys.push(new_key_line());
        crate::data_dir::write_private(&path, &format!("{}\n", keys.join("\n")))?;
    }
    let active = keys
        .last()
        .and_then(|l| l.split(':').next())
        .unwrap_or_default()
        .to_string();
    Ok((keys.join(","), active))
}

/// A new `key_id:base64(32 random bytes)` line.
pub fn new_key_line() -> String {
    use base64::Engine as _;
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "k{}:{}",
        &id[..8],
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    )
}

fn step(message: &str) {
    eprintln!("  \u{2022} {message}");
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let (dir, made_private) = crate::data_dir::prepare(&args.data_dir)?;
    let jwt_secret = persistent_secret(&dir, "jwt.secret")?;
    let internal_token = persistent_secret(&dir, "internal.token")?;
    let shared = |slice: &str| {
        vec![
            ("server.host", "127.0.0.1".to_string()),
            ("server.port", "0".to_string()),
            ("database.url", sqlite_url(&dir, slice)),
            ("database.max_connections", "8".to_string()),
            ("auth.jwt_secret", jwt_secret.clone()),
            ("auth.internal_token", internal_token.clone()),
        ]
    };
    let bus: SharedBus = Arc::new(InProcessBus::new());
    eprintln!("echoflow up: data in {}", dir.display());

    let chat_settings = echoflow_chat::Settings::load(&borrowed(&shared("chat")))?;
    echoflow_service_kit::telemetry::init("echoflow", &chat_settings.common.telemetry);
    for path in &made_private {
        tracing::warn!(
            path = %path.display(),
            "was readable by other users; made private to its owner (0700 folder, 0600 file)"
        );
    }
    let chat = echoflow_chat::Application::build(chat_settings, bus.clone()).await?;
    let chat_url = format!("http://127.0.0.1:{}", chat.port());
    step(&format!("chat ready on {chat_url}"));

    let (encryption_keys, active_key_id) = integration_keys(&dir)?;
    let mut integrations_overrides = shared("integrations");
    integrations_overrides.push(("integrations.encryption_keys", encryption_keys.clone()));
    integrations_overrides.push(("integrations.active_key_id", active_key_id.clone()));
    let public_url = format!("http://{}:{}", public_host(&args.host), args.port);
    integrations_overrides.push(("services.public_url", public_url.clone()));
    let integrations = echoflow_integrations::Application::build(
        echoflow_integrations::Settings::load(&borrowed(&integrations_overrides))?,
        bus.clone(),
    )
    .await?;
    let integrations_url = format!("http://127.0.0.1:{}", integrations.port());
    step(&format!("integrations ready on {integrations_url}"));

    let mut executor_overrides = shared("executions");
    executor_overrides.push(("executor.recover_on_start", "true".to_string()));
    executor_overrides.push(("services.chat_url", chat_url.clone()));
    executor_overrides.push(("services.integrations_url", integrations_url.clone()));
    let executor_settings = echoflow_executor::Settings::load(&borrowed(&executor_overrides))?;
    let executor = echoflow_executor::Application::build(executor_settings, bus.clone()).await?;
    let executor_url = format!("http://127.0.0.1:{}", executor.port());
    step(&format!("executor ready on {executor_url}"));

    let mut registry_overrides = shared("registry");
    registry_overrides.push(("services.executor_url", executor_url.clone()));
    registry_overrides.push(("services.chat_url", chat_url.clone()));
    registry_overrides.push(("services.integrations_url", integrations_url.clone()));
    registry_overrides.push(("services.public_url", public_url.clone()));
    // The registry seals webhook secrets with the same generated keys.
    registry_overrides.push(("registry.encryption_keys", encryption_keys));
    registry_overrides.push(("registry.active_key_id", active_key_id));
    let registry = echoflow_workflow_registry::Application::build(
        echoflow_workflow_registry::Settings::load(&borrowed(&registry_overrides))?,
        bus.clone(),
    )
    .await?;
    let registry_url = format!("http://127.0.0.1:{}", registry.port());
    step(&format!("workflow-registry ready on {registry_url}"));

    let mut gateway_overrides = shared("identity");
    gateway_overrides.retain(|(k, _)| *k != "server.host" && *k != "server.port");
    gateway_overrides.push(("server.host", args.host.clone()));
    gateway_overrides.push(("server.port", args.port.to_string()));
    gateway_overrides.push(("services.registry_url", registry_url));
    gateway_overrides.push(("services.executor_url", executor_url));
    gateway_overrides.push(("services.chat_url", chat_url));
    gateway_overrides.push(("services.integrations_url", integrations_url));
    gateway_overrides.push(("services.public_url", public_url.clone()));
    let gateway = echoflow_gateway::Application::build(
        echoflow_gateway::Settings::load(&borrowed(&gateway_overrides))?,
        bus.clone(),
    )
    .await?;
    step(&format!(
        "gateway ready: API on {public_url}, docs at {public_url}/api/docs"
    ));
    tracing::info!(port = gateway.port(), "echoflow up");

    let shutdown = echoflow_service_kit::shutdown::on_signal();
    let results = tokio::join!(
        supervise(
            "gateway",
            gateway.run_until_stopped(shutdown.clone()),
            shutdown.clone()
        ),
        supervise(
            "workflow-registry",
            registry.run_until_stopped(shutdown.clone()),
            shutdown.clone()
        ),
        supervise(
            "chat",
            chat.run_until_stopped(shutdown.clone()),
            shutdown.clone()
        ),
        supervise(
            "executor",
            executor.run_until_stopped(shutdown.clone()),
            shutdown.clone()
        ),
        supervise(
            "integrations",
            integrations.run_until_stopped(shutdown.clone()),
            shutdown.clone()
        ),
    );
    echoflow_service_kit::telemetry::shutdown();
    results.0?;
    results.1?;
    results.2?;
    results.3?;
    results.4?;
    Ok(())
}

/// When one service stops, the others stop too.
async fn supervise(
    name: &str,
    service: impl std::future::Future<Output = anyhow::Result<()>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let result = service.await;
    if let Err(e) = &result {
        tracing::error!(service = name, error = ?e, "service stopped with an error");
    }
    shutdown.cancel();
    result
}

fn borrowed(pairs: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    pairs.to_vec()
}

/// The host to put in links: a wildcard listen address is reached as localhost.
fn public_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "::" => "127.0.0.1",
        other => other,
    }
}
