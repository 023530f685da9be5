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

use crate::conversation_triggers_distributed::{PgDatabase, Vhost};
use crate::helpers::{
    DEADLINE, JWT_SECRET, assert_error, edge, flow_with_trigger, node, read, spawn_app,
    trigger_data, workflow_body,
};

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

// ---------------------------------------------------------------- PostgreSQL

#[tokio::test]
async fn two_registries_on_one_database_fire_each_tick_of_a_schedule_once() {
    let cluster = Cluster::new().await;
    let first = cluster.start_registry().await;
    let second = cluster.start_registry().await;
    let chatbot = cluster.chatbot().await;
    let mut jobs = cluster.jobs();

    let workflow = cluster
        .create_workflow(
            &first,
            &workflow_body(
                "every second",
                chatbot,
                schedule_flow(EVERY_SECOND, Some("Europe/Berlin")),
            ),
        )
        .await;
    let seen = jobs.during(Duration::from_millis(4200)).await;
    first.stop().await;
    second.stop().await;
    // Jobs the two committed before stopping may still be on their way.
    let mut seen = seen;
    seen.extend(jobs.during(Duration::from_millis(500)).await);

    let times = firings_of(workflow, &seen);
    assert!(
        (3..=6).contains(&times.len()),
        "about one firing a second for 4 s, got {times:?}"
    );
    let job = seen
        .iter()
        .find(|j| j.workflow_id == workflow.to_string())
        .unwrap();
    assert_eq!(job.chatbot_id, chatbot.to_string());
    let trigger = job.trigger.as_ref().unwrap();
    assert_eq!(trigger.chatbot_id, chatbot.to_string());
    let data = trigger_data(job);
    assert_eq!(data["cron"], EVERY_SECOND);
    assert_eq!(data["timezone"], "Europe/Berlin");
    assert!(at(data["fired_at"].as_str().unwrap()) >= scheduled_for(job));
}

#[tokio::test]
async fn after_a_stop_of_several_ticks_the_schedule_fires_once_then_ticks_on() {
    let cluster = Cluster::new().await;
    let first = cluster.start_registry().await;
    let second = cluster.start_registry().await;
    let chatbot = cluster.chatbot().await;
    let mut jobs = cluster.jobs();
    let workflow = cluster
        .create_workflow(
            &first,
            &workflow_body("every second", chatbot, schedule_flow(EVERY_SECOND, None)),
        )
        .await;
    let mut seen = vec![jobs.next().await, jobs.next().await];

    first.stop().await;
    second.stop().await;
    let pending = cluster
        .schedule_row(workflow)
        .await
        .expect("the schedule")
        .next_fire_at
        .expect("a next firing");
    // Everything is down while at least three firings fall due (the pending
    // one may still be up to a second ahead).
    let down_for = (pending + chrono::Duration::milliseconds(3200) - Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_millis(3500));
    tokio::time::sleep(down_for).await;
    let restarted_at = Utc::now();
    assert!(restarted_at - pending >= chrono::Duration::seconds(3));
    let again = cluster.start_registry().await;
    seen.extend(jobs.during(Duration::from_millis(3000)).await);
    again.stop().await;
    seen.extend(jobs.during(Duration::from_millis(500)).await);

    let times = firings_of(workflow, &seen);
    let missed: Vec<_> = times
        .iter()
        .filter(|t| **t >= pending && **t <= restarted_at)
        .collect();
    assert_eq!(
        missed,
        vec![&pending],
        "one catch-up firing for the missed ones: {times:?}"
    );
    let catch_up = seen
        .iter()
        .find(|j| j.workflow_id == workflow.to_string() && scheduled_for(j) == pending)
        .unwrap();
    assert!(at(trigger_data(catch_up)["fired_at"].as_str().unwrap()) >= restarted_at);
    let after: Vec<_> = times.iter().filter(|t| **t > restarted_at).collect();
    assert!(
        after.len() >= 2,
        "ticking goes on after the catch-up: {times:?}"
    );
    assert!(times.iter().filter(|t| **t < pending).count() >= 2);
}

#[tokio::test]
async fn an_inactive_workflow_is_not_fired_and_a_deleted_one_loses_its_schedule() {
    let cluster = Cluster::new().await;
    let registry = cluster.start_registry().await;
    let chatbot = cluster.chatbot().await;
    let mut jobs = cluster.jobs();
    let workflow = cluster
        .create_workflow(
            &registry,
            &workflow_body("every second", chatbot, schedule_flow(EVERY_SECOND, None)),
        )
        .await;
    jobs.next().await;

    cluster
        .update_workflow(&registry, workflow, &json!({"is_active": false}))
        .await;
    let deactivated_at = Utc::now();
    let row = cluster.schedule_row(workflow).await.unwrap();
    assert!(!row.is_active);
    let while_inactive = jobs.during(Duration::from_millis(2500)).await;
    let late: Vec<_> = firings_of(workflow, &while_inactive)
        .into_iter()
        .filter(|t| *t > deactivated_at)
        .collect();
    assert!(late.is_empty(), "fired while inactive: {late:?}");

    // Activated again, it starts from now: nothing for the time it was off.
    let reactivating_at = Utc::now();
    cluster
        .update_workflow(&registry, workflow, &json!({"is_active": true}))
        .await;
    let job = jobs.next().await;
    assert!(scheduled_for(&job) > reactivating_at, "a stale firing");

    let url = format!("{}/api/v1/workflows/{workflow}", registry.address);
    let (status, body) = cluster.call(cluster.client.delete(url)).await;
    assert_eq!(status, 204, "{body}");
    let deleted_at = Utc::now();
    assert_eq!(cluster.schedule_row(workflow).await, None);
    let after_delete = jobs.during(Duration::from_millis(2500)).await;
    let late: Vec<_> = firings_of(workflow, &after_delete)
        .into_iter()
        .filter(|t| *t > deleted_at)
        .collect();
    assert!(late.is_empty(), "fired after delete: {late:?}");
    registry.stop().await;
}

// ---------------------------------------------------------------- the lock

#[tokio::test]
async fn on_postgres_one_transaction_at_a_time_leads_a_tick() {
    let pg = PgDatabase::new().await;
    let db =
        echoflow_service_kit::db::connect(&SecretString::from(pg.url()), Slice::Registry.name(), 4)
            .await
            .unwrap();
    let lease = chrono::Duration::seconds(5);
    let now = Utc::now();
    let first = db.begin().await.unwrap();
    assert!(scheduler_lock::lead(&first, "a", now, lease).await.unwrap());
    let second = db.begin().await.unwrap();
    assert!(
        !scheduler_lock::lead(&second, "b", now, lease)
            .await
            .unwrap()
    );
    second.rollback().await.unwrap();
    // The lock ends with the transaction that took it.
    first.commit().await.unwrap();
    let third = db.begin().await.unwrap();
    assert!(scheduler_lock::lead(&third, "b", now, lease).await.unwrap());
    third.commit().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn on_sqlite_one_replica_leads_until_its_lease_ends_or_is_given_up() {
    let path = std::env::temp_dir().join(format!(
        "echoflow-registry-lease-{}.db",
        Uuid::new_v4().simple()
    ));
    let url = SecretString::from(format!("sqlite://{}?mode=rwc", path.display()));
    let db = echoflow_service_kit::db::connect(&url, Slice::Registry.name(), 2)
        .await
        .unwrap();
    Slice::Registry.migrate(&db).await.unwrap();
    let lease = chrono::Duration::seconds(5);
    let t0 = Utc::now();
    let lead = |holder: &'static str, at: DateTime<Utc>| {
        let db = db.clone();
        async move {
            let txn = db.begin().await.unwrap();
            let led = scheduler_lock::lead(&txn, holder, at, lease).await.unwrap();
            txn.commit().await.unwrap();
            led
        }
    };

    assert!(lead("a", t0).await);
    assert!(!lead("b", t0).await, "a holds the lease");
    assert!(
        lead("a", t0 + chrono::Duration::seconds(4)).await,
        "a renews it"
    );
    assert!(
        !lead("b", t0 + chrono::Duration::seconds(8)).await,
        "renewed until 9 s"
    );
    assert!(
        lead("b", t0 + chrono::Duration::seconds(10)).await,
        "expired: b takes over"
    );
    assert!(!lead("a", t0 + chrono::Duration::seconds(10)).await);
    scheduler_lock::release(&db, "a").await.unwrap();
    assert!(
        !lead("a", t0 + chrono::Duration::seconds(11)).await,
        "a gives up only its own lease"
    );
    scheduler_lock::release(&db, "b").await.unwrap();
    assert!(
        lead("a", t0 + chrono::Duration::seconds(11)).await,
        "given up: free at once"
    );
    db.close().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

// ---------------------------------------------------------------- SQLite, in-process

#[tokio::test]
async fn an_invalid_cron_or_time_zone_is_refused_with_its_path() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    // The trigger second in the document: the path names its own index.
    let flow = |config: Value| {
        json!({
            "nodes": [
                node("set", "action.set", json!({"values": {"a": 1}})),
                node("start", "trigger.schedule", config),
            ],
            "edges": [edge("e1", "start", "set")]
        })
    };
    for (config, path) in [
        (
            json!({"cron": "61 * * * *"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "every day"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "* * * *"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "0 0 30 2 *"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"}),
            "flow_definition.nodes[1].data.config.timezone",
        ),
        (
            json!({"timezone": "UTC"}),
            "flow_definition.nodes[1].data.config.cron",
        ),
    ] {
        let (status, body) = app
            .create_workflow(&workflow_body("bad", chatbot, flow(config.clone())))
            .await;
        assert_eq!(status, 422, "{config}: {body}");
        let error = assert_error(&body, "INVALID_WORKFLOW");
        assert_eq!(error["details"]["path"], path, "{config}: {body}");
    }

    let created = app
        .created(&workflow_body(
            "weekdays at nine",
            chatbot,
            flow(json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"})),
        ))
        .await;
    assert_eq!(created["trigger_type"], "trigger.schedule");
    let id = created["id"].as_str().unwrap();
    let (status, body) = app
        .update_workflow(
            id,
            &json!({"flow_definition": flow(json!({"cron": "0 9 * * 1-5", "timezone": "Berlin"}))}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "INVALID_WORKFLOW");
    assert_eq!(
        error["details"]["path"],
        "flow_definition.nodes[1].data.config.timezone"
    );
    let (_, fetched) = app.get_workflow(id).await;
    assert_eq!(fetched["version"], 1);
}

#[tokio::test]
async fn in_embedded_mode_a_schedule_fires_and_its_event_reaches_other_workflows() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    let listener = app
        .created(&workflow_body(
            "on schedule.fired",
            chatbot,
            crate::helpers::event_flow("schedule.fired", None),
        ))
        .await;
    let scheduled = app
        .created(&workflow_body(
            "every second",
            chatbot,
            schedule_flow(EVERY_SECOND, None),
        ))
        .await;
    let listener = listener["id"].as_str().unwrap().to_string();
    let scheduled = Uuid::parse_str(scheduled["id"].as_str().unwrap()).unwrap();

    // Two firings, and the listener started by the event of each.
    let mut seen: Vec<ExecutionJob> = Vec::new();
    let started = std::time::Instant::now();
    let done = |seen: &[ExecutionJob]| {
        let fired: BTreeSet<String> = seen
            .iter()
            .filter(|j| j.workflow_id == scheduled.to_string())
            .map(|j| j.trigger.as_ref().unwrap().id.clone())
            .collect();
        let heard: BTreeSet<String> = seen
            .iter()
            .filter(|j| j.workflow_id == listener)
            .map(|j| j.trigger.as_ref().unwrap().id.clone())
            .collect();
        fired.len() >= 2 && fired.iter().take(2).all(|id| heard.contains(id))
    };
    while !done(&seen) {
        assert!(started.elapsed() < DEADLINE, "jobs so far: {}", seen.len());
        seen.push(jobs.next_job().await);
    }

    // The scheduled workflow was started by the scheduler only, once per
    // firing, and not again by its own event.
    let times = firings_of(scheduled, &seen);
    assert!(times.len() >= 2);
    for job in seen.iter().filter(|j| j.workflow_id == listener) {
        let trigger = job.trigger.as_ref().unwrap();
        assert_eq!(trigger.r#type, "schedule.fired");
        assert_eq!(trigger.source, "/registry/scheduler");
        assert_eq!(trigger_data(job)["cron"], EVERY_SECOND);
    }
}
