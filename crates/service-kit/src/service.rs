//! A service as the process that runs it sees it, and running one of the
//! distributed deployment from its settings (`echoflow serve <name>`, the
//! service's own binary).

use echoflow_bus::SharedBus;
use std::future::Future;
use tokio_util::sync::CancellationToken;

use crate::settings::CommonSettings;

/// One echoflow service: built from its settings and a bus, it serves until
/// told to stop.
pub trait Service: Sized {
    /// Its name in logs, metrics and `config/<name>.toml`.
    const NAME: &'static str;

    type Settings;

    /// The settings from the config files and `ECHOFLOW_*` variables.
    fn settings_from_env() -> Result<Self::Settings, config::ConfigError>;

    fn common(settings: &Self::Settings) -> &CommonSettings;

    /// Refuses the service's own settings that no deployment may keep, such
    /// as a public development key (every service's auth secrets are checked
    /// by [`serve_from_env`]).
    fn require_own_secrets(_settings: &Self::Settings) -> anyhow::Result<()> {
        Ok(())
    }

    /// Connects to the service's database slice (migrating it), binds the
    /// listener and builds the server; nothing runs until
    /// [`Service::run_until_stopped`].
    fn build(
        settings: Self::Settings,
        bus: SharedBus,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// The port the service listens on.
    fn port(&self) -> u16;

    /// Serves until `shutdown`, then stops what runs in the background.
    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Runs `S` against PostgreSQL and RabbitMQ as configured, until SIGTERM or Ctrl-C.
pub async fn serve_from_env<S: Service>() -> anyhow::Result<()> {
    let settings = S::settings_from_env()?;
    let common = S::common(&settings);
    // Distributed mode: every secret must be the deployment's own.
    crate::strong_secrets::require_strong_auth(&common.auth)?;
    S::require_own_secrets(&settings)?;
    crate::telemetry::init(S::NAME, &common.telemetry);
    let bus = crate::bus::connect(&common.bus).await?;
    let app = S::build(settings, bus).await?;
    tracing::info!(port = app.port(), "{} listening", S::NAME);
    let result = app.run_until_stopped(crate::shutdown::on_signal()).await;
    crate::telemetry::shutdown();
    result
}
