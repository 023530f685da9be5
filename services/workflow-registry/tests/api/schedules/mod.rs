//! Run with: cargo test -p echoflow-workflow-registry --test api schedules
//!
//! `trigger.schedule`: a cron expression in a time zone, checked on save;
//! fired by exactly one of several registries sharing a PostgreSQL database
//! and a RabbitMQ vhost; once (not once per missed tick) after everything was
//! down; never while the workflow is inactive or after it is deleted; and in
//! embedded mode (SQLite, in-process bus). The PostgreSQL tests need the
//! servers described in conversation_triggers_distributed.rs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use echoflow_bus::topology::EXECUTOR_JOBS;
use echoflow_bus::{RabbitBus, SharedBus};
use echoflow_contracts::ExecutionJob;
use echoflow_migrations::Slice;
use echoflow_service_kit::{JwtKeys, Service};
use echoflow_workflow_registry::store::{scheduler_lock, schedules};
use echoflow_workflow_registry::{Application, Settings};
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::conversation_triggers_distributed::Vhost;
use crate::helpers::{
    DEADLINE, JWT_SECRET, PgDatabase, assert_error, edge, flow_with_trigger, node, read, spawn_app,
    trigger_data, workflow_body,
};

mod embedded;
mod leader_lock;
mod on_postgres;

const EVERY_SECOND: &str = "* * * * * *";
const INTERNAL_TOKEN: &str = "registry-schedule-tests";

fn schedule_flow(cron: &str, timezone: Option<&str>) -> Value {
    let mut config = json!({"cron": cron});
    if let Some(timezone) = timezone {
        config["timezone"] = json!(timezone);
    }
    flow_with_trigger("trigger.schedule", config)
}

// ---------------------------------------------------------------- the cluster

/// Registries started and stopped at will on one fresh PostgreSQL database
/// and RabbitMQ vhost, beside a chat service. Fields drop in order: the
/// services stop before their vhost and database go.
struct Cluster {
    client: reqwest::Client,
    token: String,
    chat_address: String,
    /// The test's own connection, for watching `executor.jobs`.
    bus: SharedBus,
    /// Cancels every service started here.
    shutdown: CancellationToken,
    vhost: Vhost,
    db: PgDatabase,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One running registry.
struct Registry {
    address: String,
    shutdown: CancellationToken,
    running: JoinHandle<anyhow::Result<()>>,
}

impl Registry {
    /// Stops it as SIGTERM would, and waits until it has.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.running)
            .await
            .expect("the registry stops in time")
            .unwrap()
            .unwrap();
    }
}

impl Cluster {
    async fn new() -> Self {
        let db = PgDatabase::new().await;
        let vhost = Vhost::new();
        let bus: SharedBus = Arc::new(RabbitBus::connect(&vhost.url()).await.unwrap());
        let shutdown = CancellationToken::new();
        let chat_address =
            crate::helpers::spawn_chat(db.url(), INTERNAL_TOKEN, bus.clone(), shutdown.clone())
                .await;
        let token = JwtKeys::new(&SecretString::from(JWT_SECRET), 900)
            .issue(Uuid::new_v4(), "owner@example.com")
            .unwrap();
        Self {
            client: reqwest::Client::new(),
            token,
            chat_address,
            bus,
            shutdown,
            vhost,
            db,
        }
    }

    /// Starts one more registry, with its own broker connection, ticking every 200 ms.
    async fn start_registry(&self) -> Registry {
        let settings = Settings::load(&[
            ("services.chat_url", self.chat_address.clone()),
            ("server.host", "127.0.0.1".into()),
            ("server.port", "0".into()),
            ("database.url", self.db.url()),
            ("bus.url", self.vhost.url()),
            ("auth.jwt_secret", JWT_SECRET.into()),
            ("auth.internal_token", INTERNAL_TOKEN.into()),
            ("services.executor_url", "http://127.0.0.1:9".into()),
            ("services.registry_url", "http://127.0.0.1:9".into()),
            ("services.public_url", "http://127.0.0.1:18080".into()),
            ("registry.scheduler_tick_ms", "200".into()),
            ("telemetry.log_format", "pretty".into()),
            ("telemetry.otlp_endpoint", String::new()),
        ])
        .unwrap();
        let bus: SharedBus = Arc::new(RabbitBus::connect(&self.vhost.url()).await.unwrap());
        let app = Application::build(settings, bus).await.unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let shutdown = self.shutdown.child_token();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Registry {
            address,
            shutdown,
            running,
        }
    }

    async fn chatbot(&self) -> Uuid {
        crate::helpers::create_chatbot(&self.client, &self.chat_address, &self.token).await
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        read(request.bearer_auth(&self.token).send().await.unwrap()).await
    }

    /// Creates a workflow through `registry`; returns its id.
    async fn create_workflow(&self, registry: &Registry, body: &Value) -> Uuid {
        let url = format!("{}/api/v1/workflows", registry.address);
        let (status, created) = self.call(self.client.post(url).json(body)).await;
        assert_eq!(status, 201, "{created}");
        Uuid::parse_str(created["id"].as_str().unwrap()).unwrap()
    }

    async fn update_workflow(&self, registry: &Registry, id: Uuid, body: &Value) -> Value {
        let url = format!("{}/api/v1/workflows/{id}", registry.address);
        let (status, updated) = self.call(self.client.put(url).json(body)).await;
        assert_eq!(status, 200, "{updated}");
        updated
    }

    /// The registry slice, to look at its rows.
    async fn registry_db(&self) -> DatabaseConnection {
        let url = SecretString::from(self.db.url());
        echoflow_service_kit::db::connect(&url, Slice::Registry.name(), 2)
            .await
            .unwrap()
    }

    async fn schedule_row(&self, workflow: Uuid) -> Option<schedules::Model> {
        let db = self.registry_db().await;
        let row = schedules::Entity::find_by_id(workflow)
            .one(&db)
            .await
            .unwrap();
        db.close().await.unwrap();
        row
    }

    /// Consumes `executor.jobs` as the executor would.
    fn jobs(&self) -> Jobs {
        Jobs(echoflow_test_support::events::consume(
            &self.bus,
            EXECUTOR_JOBS,
        ))
    }
}

// ---------------------------------------------------------------- jobs

/// The jobs a consumer received.
struct Jobs(echoflow_test_support::events::Deliveries);

impl Jobs {
    /// The next job, failing the test after the deadline.
    async fn next(&mut self) -> ExecutionJob {
        let delivery = self.0.next_within(DEADLINE).await;
        ExecutionJob::decode_bytes(&delivery.body).unwrap()
    }

    /// Every job that arrives within `window` (the scenario's own length).
    async fn during(&mut self, window: Duration) -> Vec<ExecutionJob> {
        let until = tokio::time::Instant::now() + window;
        let mut jobs = Vec::new();
        while let Some(delivery) = self
            .0
            .try_next_within(until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            jobs.push(ExecutionJob::decode_bytes(&delivery.body).unwrap());
        }
        jobs
    }
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?}: {e}"))
        .with_timezone(&Utc)
}

/// When the firing behind a scheduler's job was due.
fn scheduled_for(job: &ExecutionJob) -> DateTime<Utc> {
    at(trigger_data(job)["scheduled_for"].as_str().unwrap())
}

/// The scheduled times of `workflow`'s jobs, asserting each came from the
/// scheduler and that no time came twice.
fn firings_of(workflow: Uuid, jobs: &[ExecutionJob]) -> Vec<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = jobs
        .iter()
        .filter(|j| j.workflow_id == workflow.to_string())
        .map(|job| {
            let trigger = job.trigger.as_ref().unwrap();
            assert_eq!(trigger.r#type, "schedule.fired");
            assert_eq!(trigger.source, "/registry/scheduler");
            let when = scheduled_for(job);
            assert_eq!(
                trigger.id,
                format!(
                    "{workflow}@{}",
                    when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            );
            when
        })
        .collect();
    times.sort();
    let distinct: BTreeSet<_> = times.iter().collect();
    assert_eq!(
        distinct.len(),
        times.len(),
        "a firing came twice: {times:?}"
    );
    times
}
