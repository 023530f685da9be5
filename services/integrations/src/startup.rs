//! Builds and runs integrations: HTTP API and the outbox relay of its events.

use std::sync::Arc;

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use echoflow_bus::{SharedBus, outbox::OutboxRelay};
use echoflow_migrations::Slice;
use echoflow_service_kit::{health::Readiness, http::Common, metrics};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::routes::{connect, connections, internal};
use crate::settings::Settings;
use crate::state::Integrations;
use crate::tokens::keyring::{DEV_KEY_ID, Keyring};

pub const SERVICE: &str = "integrations";

pub struct Application {
    port: u16,
    server: Server,
    stop_background: CancellationToken,
    relay: echoflow_bus::outbox::OutboxHandle,
}

impl Application {
    pub async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        // A bad keyring stops the start: tokens could be neither stored nor read.
        let keyring = Keyring::parse_section(
            "integrations",
            &settings.integrations.encryption_keys,
            &settings.integrations.active_key_id,
        )?;
        if keyring.active_id() == DEV_KEY_ID {
            tracing::warn!(
                "integrations tokens are encrypted with the public development key \"dev\"; \
                 set integrations.encryption_keys and integrations.active_key_id in production"
            );
        }
        let db = echoflow_service_kit::db::connect(
            &settings.database.url,
            Slice::Integrations.name(),
            settings.database.max_connections,
        )
        .await?;
        Slice::Integrations.migrate(&db).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        let listener =
            echoflow_service_kit::http::bind(&settings.server.host, settings.server.port)?;
        let port = listener.local_addr()?.port();
        let common = Common::new(
            SERVICE,
            &settings.server,
            &settings.auth,
            Readiness {
                db: db.clone(),
                bus: bus.clone(),
            },
        )
        .documented(&<crate::openapi::IntegrationsDoc as utoipa::OpenApi>::openapi());
        for provider in crate::provider::Provider::ALL {
            if !settings.integrations.providers.of(provider).is_configured() {
                tracing::info!(%provider, "provider not configured (no client_id); connects to it are refused");
            }
        }
        let state = web::Data::new(Integrations::new(
            &settings,
            db,
            Arc::new(keyring),
            relay.clone(),
        )?);
        metrics::handle();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(metrics::track_requests))
                .wrap(TracingLogger::default())
                .configure(|cfg| common.configure(cfg))
                .app_data(state.clone())
                .service(
                    web::scope("/api/v1/integrations")
                        .route("", web::get().to(connections::list))
                        .route("/{provider}/connect", web::get().to(connect::connect))
                        .route("/{provider}/callback", web::get().to(connect::callback))
                        .route("/{id}/test", web::post().to(connections::test))
                        .route("/{id}", web::delete().to(connections::delete)),
                )
                .service(
                    web::scope("/internal")
                        .route("/connections/{id}", web::get().to(internal::connection))
                        .route("/actions/{action}", web::post().to(internal::run_action)),
                )
                .route("/api/openapi.json", web::get().to(crate::openapi::serve))
        })
        .workers(echoflow_service_kit::http::workers())
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            stop_background,
            relay,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP until `shutdown`, then stops the relay after the last request.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let served = echoflow_service_kit::http::run_until_stopped(self.server, shutdown).await;
        self.stop_background.cancel();
        self.relay.stopped().await;
        served?;
        Ok(())
    }
}

/// `echoflow serve integrations` and the service's own binary.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let settings = Settings::load(&[])?;
    // Distributed mode: every secret must be the deployment's own.
    echoflow_service_kit::strong_secrets::require_strong_auth(&settings.auth)?;
    echoflow_service_kit::strong_secrets::require_own_active_key(
        "integrations",
        &settings.integrations.encryption_keys,
        &settings.integrations.active_key_id,
    )?;
    echoflow_service_kit::telemetry::init(SERVICE, &settings.telemetry);
    let bus = echoflow_service_kit::bus::connect(&settings.bus).await?;
    let app = Application::build(settings, bus).await?;
    tracing::info!(port = app.port(), "integrations listening");
    let result = app
        .run_until_stopped(echoflow_service_kit::shutdown::on_signal())
        .await;
    echoflow_service_kit::telemetry::shutdown();
    result
}
