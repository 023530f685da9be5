//! Builds and runs the executor: HTTP API, job consumer, outbox relay.

use actix_web::{dev::Server, web};
use echoflow_bus::{OutgoingMessage, SharedBus, outbox::OutboxRelay, topology};
use echoflow_contracts::{JOB_ROUTING_KEY, Message, PROTOBUF_CONTENT_TYPE};
use echoflow_migrations::Slice;
use echoflow_service_kit::settings::CommonSettings;
use echoflow_service_kit::{HttpService, Service, db, health::Readiness};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::background::waker::{self, WakerHandle};
use crate::consumers::chatbot_events::ChatbotEventConsumer;
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

impl Service for Application {
    const NAME: &'static str = "executor";
    type Settings = Settings;

    fn settings_from_env() -> Result<Settings, config::ConfigError> {
        Settings::load(&[])
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let policy = NetworkPolicy::parse(&settings.executor.allow_networks)
            .map_err(anyhow::Error::msg)?
            .with_egress(settings.executor.egress);
        let db = db::connect_slice(&settings.common.database, Slice::Executions).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        // Rolls closed hours of ended executions up for the analytics overview.
        echoflow_analytics::roller::spawn(
            db.clone(),
            crate::analytics::ExecutionRows,
            Duration::from_secs(60),
            stop_background.clone(),
        );
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
                    &settings.common.services.chat_url,
                    settings.common.auth.internal_token.clone(),
                )?,
                integrations: IntegrationsNode::new(
                    &settings.common.services.integrations_url,
                    settings.common.auth.internal_token.clone(),
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
        let readiness = Readiness {
            db: db.clone(),
            bus: bus.clone(),
        };
        let http = HttpService::bind(Self::NAME, &settings.common, readiness)?
            .documented(&<crate::openapi::ExecutorDoc as utoipa::OpenApi>::openapi());
        let port = http.port();
        let db = web::Data::new(db);
        let control = web::Data::new(Control {
            relay,
            waker: waker.clone(),
        });
        let server = http.serve(move |cfg| {
            cfg.app_data(db.clone())
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
                .route(
                    "/internal/analytics/executions",
                    web::get().to(crate::analytics::executions),
                )
                .route("/api/openapi.json", web::get().to(crate::openapi::serve));
        })?;
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

    fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP and runs jobs until `shutdown`; in-flight jobs finish first.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
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
        let chatbot_events = tokio::spawn(consume_chatbot_events(
            self.bus.clone(),
            ChatbotEventConsumer {
                db: self.engine.db.clone(),
                relay: self.engine.relay.clone(),
                waker: self.engine.waker.clone(),
            },
            shutdown.clone(),
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
        chatbot_events.await??;
        self.engine.relay.stopped().await;
        served?;
        consumed??;
        Ok(())
    }
}

/// Consumes `executor.chatbot-events` (one at a time: they are rare) until `shutdown`.
async fn consume_chatbot_events(
    bus: SharedBus,
    consumer: ChatbotEventConsumer,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    bus.consume(
        topology::EXECUTOR_CHATBOT_EVENTS,
        1,
        Arc::new(consumer),
        shutdown,
    )
    .await?;
    Ok(())
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
