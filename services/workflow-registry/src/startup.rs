//! Builds and runs workflow-registry: HTTP API, trigger-event consumer,
//! scheduler, outbox relay.

use actix_web::{dev::Server, web};
use echoflow_bus::{SharedBus, outbox::OutboxRelay, topology::REGISTRY_TRIGGER_EVENTS};
use echoflow_migrations::Slice;
use echoflow_service_kit::settings::CommonSettings;
use echoflow_service_kit::{HttpService, Service, db, health::Readiness};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::consumers::trigger_events::TriggerEventConsumer;
use crate::jobs::JobSubmitter;
use crate::ownership::ChatbotDirectory;
use crate::responses::{ResponseWaiters, SyncWebhooks};
use crate::routes::workflows::GraphLimits;
use crate::routes::{
    PublicUrl, audit, events, execute, node_types, templates, versions, webhooks, workflows,
};
use crate::scheduler::Scheduler;
use crate::settings::Settings;
use crate::webhook_secrets::WebhookSecrets;

pub struct Application {
    port: u16,
    server: Server,
    db: sea_orm::DatabaseConnection,
    bus: SharedBus,
    prefetch: u16,
    scheduler_tick: std::time::Duration,
    stop_background: CancellationToken,
    relay: echoflow_bus::outbox::OutboxHandle,
    /// Answers for webhook callers waiting on this replica (`echoflow.responses`).
    responses: echoflow_bus::Subscription,
}

impl Service for Application {
    const NAME: &'static str = "workflow-registry";
    type Settings = Settings;

    fn settings_from_env() -> Result<Settings, config::ConfigError> {
        Settings::load(&[])
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    /// Webhook secrets sealed under the public development key would be readable by anyone.
    fn require_own_secrets(settings: &Settings) -> anyhow::Result<()> {
        echoflow_service_kit::strong_secrets::require_own_active_key(
            "registry",
            &settings.registry.encryption_keys,
            &settings.registry.active_key_id,
        )?;
        Ok(())
    }

    async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let db = db::connect_slice(&settings.common.database, Slice::Registry).await?;
        let secrets = WebhookSecrets::from_settings(&settings.registry)?;
        let sealed = crate::webhook_secrets::seal_stored(&db, &secrets).await?;
        if sealed > 0 {
            tracing::info!(versions = sealed, "sealed webhook secrets stored in clear");
        }
        let secrets = web::Data::new(secrets);
        let limits = web::Data::new(GraphLimits {
            max_nodes: settings.registry.max_nodes,
            max_edges: settings.registry.max_edges,
        });
        crate::store::templates::seed(&db, &crate::templates::library::load()?).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        let readiness = Readiness {
            db: db.clone(),
            bus: bus.clone(),
        };
        let http = HttpService::bind(Self::NAME, &settings.common, readiness)?
            .documented(&<crate::openapi::RegistryDoc as utoipa::OpenApi>::openapi());
        let port = http.port();
        let services = &settings.common.services;
        let internal_token = &settings.common.auth.internal_token;
        let jobs = web::Data::new(JobSubmitter::new(
            db.clone(),
            relay.clone(),
            &services.executor_url,
            internal_token.clone(),
        )?);
        let public = web::Data::new(PublicUrl(services.public_url.clone()));
        let chatbots = web::Data::new(
            ChatbotDirectory::new(&services.chat_url, internal_token.clone())?
                .with_integrations(&services.integrations_url),
        );
        let waiters = ResponseWaiters::new(settings.registry.webhook_max_waiting);
        let responses = waiters.subscribe(&bus, stop_background.clone()).await?;
        let sync = web::Data::new(SyncWebhooks {
            waiters,
            max_wait_secs: settings.registry.webhook_respond_max_secs,
        });
        let db_data = web::Data::new(db.clone());
        let server = http.serve(move |cfg| {
            cfg.app_data(db_data.clone())
                .app_data(jobs.clone())
                .app_data(public.clone())
                .app_data(chatbots.clone())
                .app_data(secrets.clone())
                .app_data(sync.clone())
                .app_data(limits.clone())
                .service(
                    web::scope("/api/v1")
                        .route("/workflows", web::post().to(workflows::create))
                        .route("/workflows", web::get().to(workflows::list))
                        .route("/workflows/{id}", web::get().to(workflows::get))
                        .route("/workflows/{id}", web::put().to(workflows::update))
                        .route("/workflows/{id}", web::delete().to(workflows::delete))
                        .route("/workflows/{id}/execute", web::post().to(execute::execute))
                        .route("/workflows/{id}/versions", web::get().to(versions::list))
                        .route(
                            "/workflows/{id}/versions/{version}",
                            web::get().to(versions::get),
                        )
                        .route(
                            "/workflows/{id}/rollback",
                            web::post().to(versions::rollback),
                        )
                        .route("/workflows/{id}/copy", web::post().to(versions::copy))
                        .route("/workflows/{id}/diff", web::get().to(versions::diff))
                        .route(
                            "/workflows/{id}/webhook/rotate",
                            web::post().to(versions::rotate_webhook),
                        )
                        .route("/audit-log", web::get().to(audit::list))
                        .route("/events", web::post().to(events::publish))
                        .route("/node-types", web::get().to(node_types::list))
                        .route("/templates", web::get().to(templates::list))
                        .route("/templates/{id}", web::get().to(templates::get))
                        .route(
                            "/templates/{id}/instantiate",
                            web::post().to(templates::instantiate),
                        ),
                )
                .route("/hooks/{token}", web::post().to(webhooks::receive))
                .route("/api/openapi.json", web::get().to(crate::openapi::serve));
        })?;
        Ok(Self {
            port,
            server,
            db,
            bus,
            prefetch: settings.common.bus.prefetch,
            scheduler_tick: std::time::Duration::from_millis(settings.registry.scheduler_tick_ms),
            stop_background,
            relay,
            responses,
        })
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP, consumes trigger events and fires schedules until
    /// `shutdown`; then stops them, lets in-flight work finish, and stops the
    /// relay last.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = Arc::new(TriggerEventConsumer {
            db: self.db.clone(),
            relay: self.relay.clone(),
        });
        let bus = self.bus.clone();
        let consumer_stop = shutdown.clone();
        let prefetch = self.prefetch;
        let consuming = tokio::spawn(async move {
            bus.consume(REGISTRY_TRIGGER_EVENTS, prefetch, consumer, consumer_stop)
                .await
        });
        let scheduler = Scheduler::new(self.db.clone(), self.relay.clone(), self.scheduler_tick);
        let scheduling = tokio::spawn(scheduler.run(shutdown.clone()));
        let served =
            echoflow_service_kit::http::run_until_stopped(self.server, shutdown.clone()).await;
        shutdown.cancel();
        let consumed = consuming.await;
        let scheduled = scheduling.await;
        self.stop_background.cancel();
        self.responses.stopped().await;
        self.relay.stopped().await;
        served?;
        consumed??;
        scheduled?;
        Ok(())
    }
}
