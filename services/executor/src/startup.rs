//! Builds and runs the executor: HTTP API, job consumer, outbox relay.

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use echoflow_bus::{OutgoingMessage, SharedBus, outbox::OutboxRelay, topology};
use echoflow_contracts::{
    ExecutionJob, JOB_ROUTING_KEY, Message, PROTOBUF_CONTENT_TYPE, TriggerEvent,
};
use echoflow_migrations::Slice;
use echoflow_service_kit::{health::Readiness, http::Common, metrics};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::consumers::jobs::JobConsumer;
use crate::engine::{
    Engine, chat::ChatNode, http::HttpNode, network::NetworkPolicy, nodes::NodeRunner,
};
use crate::routes::{executions, internal};
use crate::settings::Settings;
use crate::store::{executions as store, status};

pub const SERVICE: &str = "executor";

pub struct Application {
    port: u16,
    server: Server,
    engine: Engine,
    bus: SharedBus,
    concurrency: u16,
    recover_on_start: bool,
    stop_background: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let policy =
            NetworkPolicy::parse(&settings.executor.allow_networks).map_err(anyhow::Error::msg)?;
        let db = echoflow_service_kit::db::connect(
            &settings.database.url,
            Slice::Executions.name(),
            settings.database.max_connections,
        )
        .await?;
        Slice::Executions.migrate(&db).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        let engine = Engine {
            db: db.clone(),
            bus: bus.clone(),
            relay,
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
        );
        let db_data = web::Data::new(db);
        metrics::handle();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(metrics::track_requests))
                .wrap(TracingLogger::default())
                .configure(|cfg| common.configure(cfg))
                .app_data(db_data.clone())
                .route("/api/v1/executions", web::get().to(executions::list))
                .route("/api/v1/executions/{id}", web::get().to(executions::get))
                .route("/internal/executions", web::post().to(internal::announce))
                .route("/api/openapi.json", web::get().to(crate::openapi::serve))
                .default_service(web::to(echoflow_service_kit::error::not_found_route))
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
        let consumed = consuming.await;
        self.stop_background.cancel();
        self.engine.relay.stopped().await;
        served?;
        consumed??;
        Ok(())
    }
}

/// Re-queues the jobs of executions that never finished (embedded mode).
async fn recover(db: &DatabaseConnection, bus: &SharedBus) -> anyhow::Result<()> {
    let unfinished = store::Entity::find()
        .filter(store::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .all(db)
        .await?;
    let count = unfinished.len();
    for execution in unfinished {
        let Some(plan) = execution.plan.as_ref() else {
            continue;
        };
        let job = job_of(&execution, plan);
        let message = OutgoingMessage::new(
            job.execution_id.clone(),
            JOB_ROUTING_KEY,
            PROTOBUF_CONTENT_TYPE,
            job.encode_to_vec(),
        );
        bus.publish(topology::JOBS_EXCHANGE, message).await?;
    }
    if count > 0 {
        tracing::info!(count, "re-queued unfinished executions");
    }
    Ok(())
}

fn job_of(execution: &store::Model, plan: &Value) -> ExecutionJob {
    let t = &execution.trigger;
    let text = |key: &str| {
        t.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    ExecutionJob {
        execution_id: execution.id.to_string(),
        workflow_id: execution.workflow_id.to_string(),
        workflow_version: execution.workflow_version,
        owner_id: execution.owner_id.to_string(),
        chatbot_id: execution.chatbot_id.to_string(),
        trigger: Some(TriggerEvent {
            id: text("id"),
            source: text("source"),
            r#type: text("type"),
            specversion: "1.0".into(),
            time: text("time"),
            subject: String::new(),
            datacontenttype: "application/json".into(),
            data_json: t.get("data").cloned().unwrap_or(Value::Null).to_string(),
            chatbot_id: text("chatbot_id"),
            user_id: text("user_id"),
        }),
        plan_json: plan.to_string(),
        retry_of: execution
            .retry_of
            .map(|r| r.to_string())
            .unwrap_or_default(),
        queued_at: execution.queued_at.to_rfc3339(),
    }
}

/// `echoflow serve executor` and the service's own binary.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let settings = Settings::load(&[])?;
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
