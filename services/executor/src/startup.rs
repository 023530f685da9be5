//! Builds and runs the executor: HTTP API, job consumer, outbox relay.

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use echoflow_bus::{OutgoingMessage, SharedBus, outbox::OutboxRelay, topology};
use echoflow_contracts::{JOB_ROUTING_KEY, Message, PROTOBUF_CONTENT_TYPE};
use echoflow_migrations::Slice;
use echoflow_service_kit::{health::Readiness, http::Common, metrics};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::background::waker::{self, WakerHandle};
use crate::consumers::jobs::JobConsumer;
use crate::engine::Engine;
use crate::engine::nodes::{
    NodeRunner, ai::AiNode, chat::ChatNode, http::HttpNode, integrations::IntegrationsNode,
    network::NetworkPolicy,
};
use crate::routes::control::{self, Control};
use crate::routes::{executions, internal};
use crate::settings::Settings;
use crate::store::{executions as store, status, wakeups};

pub const SERVICE: &str = "executor";

pub struct Application {
    port: u16,
    server: Server,
    engine: Engine,
    bus: SharedBus,
    concurrency: u16,
    recover_on_start: bool,
    retention_days: u32,
    shutdown_grace: Duration,
    stop_background: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let policy = NetworkPolicy::parse(&settings.executor.allow_networks)
            .map_err(anyhow::Error::msg)?
            .with_egress(settings.executor.egress);
        let db = echoflow_service_kit::db::connect(
            &settings.database.url,
            Slice::Executions.name(),
            settings.database.max_connections,
        )
        .await?;
        Slice::Executions.migrate(&db).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        let waker = WakerHandle::default();
        let engine = Engine {
            db: db.clone(),
            bus: bus.clone(),
            relay: relay.clone(),
            waker: waker.clone(),
            nodes: NodeRunner {
                http: HttpNode::new(
                    policy,
                    Duration::from_millis(settings.executor.http_timeout_ms),
                    settings.executor.max_output_bytes,
                )?,
                chat: ChatNode::new(
                    &settings.services.chat_url,
                    settings.auth.internal_token.clone(),
                )?,
                integrations: IntegrationsNode::new(
                    &settings.services.integrations_url,
                    settings.auth.internal_token.clone(),
                )?,
                ai: AiNode::new(
                    &settings.executor.ai_base_url,
                    &settings.executor.ai_model,
                    settings.executor.ai_api_key.clone(),
                    Duration::from_millis(settings.executor.ai_timeout_ms),
                )?,
                max_output_bytes: settings.executor.max_output_bytes,
            },
        };
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
        .documented(&<crate::openapi::ExecutorDoc as utoipa::OpenApi>::openapi());
        let db_data = web::Data::new(db);
        let control = web::Data::new(Control {
            relay,
            waker: waker.clone(),
        });
        metrics::handle();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(metrics::track_requests))
                .wrap(TracingLogger::default())
                .configure(|cfg| common.configure(cfg))
                .app_data(db_data.clone())
                .app_data(control.clone())
                .route("/api/v1/executions", web::get().to(executions::list))
                .route("/api/v1/executions/{id}", web::get().to(executions::get))
                .route(
                    "/api/v1/executions/{id}/cancel",
                    web::post().to(control::cancel),
                )
                .route(
                    "/api/v1/executions/{id}/retry",
                    web::post().to(control::retry),
                )
                .route(
                    "/api/v1/dead-letters",
                    web::get().to(control::list_dead_letters),
                )
                .route(
                    "/api/v1/dead-letters/replay",
                    web::post().to(control::replay),
                )
                .route(
                    "/api/v1/dead-letters/{id}",
                    web::get().to(control::get_dead_letter),
                )
                .route("/internal/executions", web::post().to(internal::announce))
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
            engine,
            bus,
            concurrency: settings.executor.concurrency.max(1),
            recover_on_start: settings.executor.recover_on_start,
            retention_days: settings.executor.retention_days,
            shutdown_grace: Duration::from_secs(settings.executor.shutdown_grace_secs),
            stop_background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP and runs jobs until `shutdown`; in-flight jobs finish first.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if self.recover_on_start {
            recover(&self.engine.db, &self.bus).await?;
        }
        let waking = tokio::spawn(waker::run(
            self.engine.db.clone(),
            self.engine.relay.clone(),
            self.engine.waker.clone(),
            self.stop_background.clone(),
        ));
        let pruning = tokio::spawn(crate::background::retention::run(
            self.engine.db.clone(),
            self.retention_days,
            self.stop_background.clone(),
        ));
        let consumer = Arc::new(JobConsumer::new(self.engine.clone()));
        let bus = self.bus.clone();
        let consumer_stop = shutdown.clone();
        let concurrency = self.concurrency;
        let consuming = tokio::spawn(async move {
            bus.consume(
                topology::EXECUTOR_JOBS,
                concurrency,
                consumer,
                consumer_stop,
            )
            .await
        });
        let served =
            echoflow_service_kit::http::run_until_stopped(self.server, shutdown.clone()).await;
        shutdown.cancel();
        // Running steps get the grace period to finish; the jobs of those
        // that do not are handed back (never acknowledged, so the broker
        // redelivers them, and recorded steps are not run again).
        let mut consuming = consuming;
        let consumed = match tokio::time::timeout(self.shutdown_grace, &mut consuming).await {
            Ok(joined) => joined,
            Err(_) => {
                tracing::warn!(
                    grace_secs = self.shutdown_grace.as_secs(),
                    "steps still running after the grace period; their jobs are handed back"
                );
                consuming.abort();
                let _ = consuming.await;
                Ok(Ok(()))
            }
        };
        self.stop_background.cancel();
        let _ = waking.await;
        let _ = pruning.await;
        self.engine.relay.stopped().await;
        served?;
        consumed??;
        Ok(())
    }
}

/// Re-queues the jobs of executions that never finished (embedded mode),
/// except those waiting on a wake-up: the waker resumes them when due.
async fn recover(db: &DatabaseConnection, bus: &SharedBus) -> anyhow::Result<()> {
    let unfinished = store::Entity::find()
        .filter(store::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .all(db)
        .await?;
    let waiting: std::collections::HashSet<uuid::Uuid> = wakeups::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.execution_id)
        .collect();
    let mut count = 0usize;
    for execution in unfinished {
        if execution.plan.is_none() || waiting.contains(&execution.id) {
            continue;
        }
        let job = waker::resume_job(&execution);
        let message = OutgoingMessage::new(
            uuid::Uuid::now_v7().to_string(),
            JOB_ROUTING_KEY,
            PROTOBUF_CONTENT_TYPE,
            job.encode_to_vec(),
        );
        bus.publish(topology::JOBS_EXCHANGE, message).await?;
        count += 1;
    }
    if count > 0 {
        tracing::info!(count, "re-queued unfinished executions");
    }
    Ok(())
}

/// `echoflow serve executor` and the service's own binary.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let settings = Settings::load(&[])?;
    // Distributed mode: every secret must be the deployment's own.
    echoflow_service_kit::strong_secrets::require_strong_auth(&settings.auth)?;
    echoflow_service_kit::telemetry::init(SERVICE, &settings.telemetry);
    let bus = echoflow_service_kit::bus::connect(&settings.bus).await?;
    let app = Application::build(settings, bus).await?;
    tracing::info!(port = app.port(), "executor listening");
    let result = app
        .run_until_stopped(echoflow_service_kit::shutdown::on_signal())
        .await;
    echoflow_service_kit::telemetry::shutdown();
    result
}
