//! Builds and runs integrations: HTTP API and the outbox relay of its events.

use std::sync::Arc;

use actix_web::{dev::Server, web};
use echoflow_bus::{SharedBus, outbox::OutboxRelay};
use echoflow_migrations::Slice;
use echoflow_service_kit::settings::CommonSettings;
use echoflow_service_kit::{HttpService, Service, db, health::Readiness};
use tokio_util::sync::CancellationToken;

use crate::routes::{connect, connections, internal};
use crate::settings::Settings;
use crate::state::Integrations;
use crate::tokens::keyring::{DEV_KEY_ID, Keyring};

pub struct Application {
    port: u16,
    server: Server,
    stop_background: CancellationToken,
    relay: echoflow_bus::outbox::OutboxHandle,
}

impl Service for Application {
    const NAME: &'static str = "integrations";
    type Settings = Settings;

    fn settings_from_env() -> Result<Settings, config::ConfigError> {
        Settings::load(&[])
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    /// Tokens sealed under the public development key would be readable by anyone.
    fn require_own_secrets(settings: &Settings) -> anyhow::Result<()> {
        echoflow_service_kit::strong_secrets::require_own_active_key(
            "integrations",
            &settings.integrations.encryption_keys,
            &settings.integrations.active_key_id,
        )?;
        Ok(())
    }

    async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
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
        let db = db::connect_slice(&settings.common.database, Slice::Integrations).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        let readiness = Readiness {
            db: db.clone(),
            bus,
        };
        let http = HttpService::bind(Self::NAME, &settings.common, readiness)?
            .documented(&<crate::openapi::IntegrationsDoc as utoipa::OpenApi>::openapi());
        let port = http.port();
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
        let server = http.serve(move |cfg| {
            cfg.app_data(state.clone())
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
                .route("/api/openapi.json", web::get().to(crate::openapi::serve));
        })?;
        Ok(Self {
            port,
            server,
            stop_background,
            relay,
        })
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP until `shutdown`, then stops the relay after the last request.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let served = echoflow_service_kit::http::run_until_stopped(self.server, shutdown).await;
        self.stop_background.cancel();
        self.relay.stopped().await;
        served?;
        Ok(())
    }
}
