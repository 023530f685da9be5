//! Run with: cargo test -p echoflow-workflow-registry --test api conversation_triggers_distributed
//!
//! Debounce under concurrency where it matters: on PostgreSQL (and SQLite),
//! transactions racing for one conversation fire once; and the registry run
//! against PostgreSQL and RabbitMQ, with events handled concurrently, starts
//! one run per conversation. Needs PostgreSQL on 127.0.0.1:5432 (user
//! postgres, trust) and RabbitMQ on 127.0.0.1:5672 (guest/guest) with
//! `rabbitmqctl`; each test gets a fresh database and vhost.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use echoflow_bus::topology::{EVENTS_EXCHANGE, EXECUTOR_JOBS};
use echoflow_bus::{OutgoingMessage, RabbitBus, SharedBus};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, ExecutionJob};
use echoflow_migrations::Slice;
use echoflow_service_kit::{JwtKeys, Service};
use echoflow_workflow_registry::store::{firings, workflows};
use echoflow_workflow_registry::{Application, Settings};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set, TransactionTrait};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{DEADLINE, JWT_SECRET, PgDatabase, flow_with_trigger, workflow_body};

/// How long to listen for jobs that must not come.
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------- databases

/// A temp SQLite file, removed on drop.
struct SqliteFile {
    path: std::path::PathBuf,
}

impl SqliteFile {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "echoflow-registry-firings-{}.db",
            Uuid::new_v4().simple()
        ));
        Self { path }
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The registry slice at `url`, connected as the service connects and migrated.
async fn registry_db(url: String) -> DatabaseConnection {
    let db = echoflow_service_kit::db::connect(&SecretString::from(url), Slice::Registry.name(), 8)
        .await
        .unwrap();
    Slice::Registry.migrate(&db).await.unwrap();
    db
}

async fn insert_workflow(db: &DatabaseConnection) -> Uuid {
    let id = Uuid::new_v4();
    let now = Utc::now();
    workflows::ActiveModel {
        id: Set(id),
        owner_id: Set(Uuid::new_v4()),
        chatbot_id: Set(Uuid::new_v4()),
        name: Set("debounced".into()),
        description: Set(None),
        is_active: Set(true),
        current_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    id
}

// ---------------------------------------------------------------- the claim

/// `racers` transactions claim one conversation at once; each holds its
/// transaction open a while after claiming, so the others must wait on it.
async fn racing_claims_fire_once(db: DatabaseConnection) {
    let workflow = insert_workflow(&db).await;
    let racers = 6;
    let barrier = Arc::new(Barrier::new(racers));
    let now = Utc::now();
    let mut handles = Vec::new();
    for _ in 0..racers {
        let db = db.clone();
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            let txn = db.begin().await.unwrap();
            barrier.wait().await;
            let won = firings::claim(&txn, workflow, "s1", now, chrono::Duration::minutes(10))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            txn.commit().await.unwrap();
            won
        }));
    }
    let mut wins = 0;
    for handle in handles {
        if handle.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1, "racing claims for one conversation");
}

/// The window runs from the last firing; conversations and workflows are
/// debounced separately; a rolled-back firing does not count.
async fn the_window_runs_from_the_last_firing(db: DatabaseConnection) {
    let workflow = insert_workflow(&db).await;
    let other_workflow = insert_workflow(&db).await;
    let window = chrono::Duration::seconds(600);
    let t0 = Utc::now();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let claim = |wf: Uuid, key: &'static str, s: i64| {
        let db = db.clone();
        async move { firings::claim(&db, wf, key, at(s), window).await.unwrap() }
    };

    assert!(claim(workflow, "s1", 0).await);
    assert!(!claim(workflow, "s1", 1).await);
    assert!(!claim(workflow, "s1", 599).await);
    assert!(claim(workflow, "s2", 1).await, "another conversation");
    assert!(claim(other_workflow, "s1", 1).await, "another workflow");
    assert!(claim(workflow, "s1", 600).await, "window over");
    assert!(
        !claim(workflow, "s1", 601).await,
        "a new window began at 600"
    );

    // A firing whose transaction rolls back leaves no trace.
    let txn = db.begin().await.unwrap();
    assert!(
        firings::claim(&txn, workflow, "s3", at(0), window)
            .await
            .unwrap()
    );
    txn.rollback().await.unwrap();
    assert!(claim(workflow, "s3", 1).await);
}

#[tokio::test]
async fn racing_claims_for_one_conversation_fire_once_on_postgres() {
    let pg = PgDatabase::new().await;
    racing_claims_fire_once(registry_db(pg.url()).await).await;
}

#[tokio::test]
async fn racing_claims_for_one_conversation_fire_once_on_sqlite() {
    let file = SqliteFile::new();
    racing_claims_fire_once(registry_db(file.url()).await).await;
}

#[tokio::test]
async fn the_debounce_window_runs_from_the_last_firing_on_postgres() {
    let pg = PgDatabase::new().await;
    the_window_runs_from_the_last_firing(registry_db(pg.url()).await).await;
}

#[tokio::test]
async fn the_debounce_window_runs_from_the_last_firing_on_sqlite() {
    let file = SqliteFile::new();
    the_window_runs_from_the_last_firing(registry_db(file.url()).await).await;
}

// ---------------------------------------------------------------- the service

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(["--timeout", "30"])
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh RabbitMQ vhost, deleted on drop.
pub(crate) struct Vhost {
    name: String,
}

impl Vhost {
    pub(crate) fn new() -> Self {
        let name = format!("registry_test_{}", Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self { name }
    }

    pub(crate) fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// The registry on PostgreSQL and RabbitMQ. Fields drop in order: the app
/// stops before its broker vhost and database go.
struct DistributedApp {
    address: String,
    client: reqwest::Client,
    bus: SharedBus,
    user_id: Uuid,
    token: String,
    chat_address: String,
    shutdown: CancellationToken,
    _vhost: Vhost,
    _db: PgDatabase,
}

impl Drop for DistributedApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl DistributedApp {
    async fn spawn() -> Self {
        let db = PgDatabase::new().await;
        let vhost = Vhost::new();
        let bus: SharedBus = Arc::new(RabbitBus::connect(&vhost.url()).await.unwrap());
        let shutdown = CancellationToken::new();
        let chat_address = crate::helpers::spawn_chat(
            db.url(),
            "registry-distributed-tests",
            bus.clone(),
            shutdown.clone(),
        )
        .await;
        let settings = Settings::load(&[
            ("services.chat_url", chat_address.clone()),
            ("server.host", "127.0.0.1".into()),
            ("server.port", "0".into()),
            ("database.url", db.url()),
            ("bus.url", vhost.url()),
            ("auth.jwt_secret", JWT_SECRET.into()),
            ("auth.internal_token", "registry-distributed-tests".into()),
            ("services.executor_url", "http://127.0.0.1:9".into()),
            ("services.registry_url", "http://127.0.0.1:9".into()),
            ("services.public_url", "http://127.0.0.1:18080".into()),
            ("telemetry.log_format", "pretty".into()),
            ("telemetry.otlp_endpoint", String::new()),
        ])
        .unwrap();
        let app = Application::build(settings, bus.clone()).await.unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let user_id = Uuid::new_v4();
        let token = JwtKeys::new(&SecretString::from(JWT_SECRET), 900)
            .issue(user_id, "owner@example.com")
            .unwrap();
        Self {
            address,
            client: reqwest::Client::new(),
            bus,
            user_id,
            token,
            chat_address,
            shutdown,
            _vhost: vhost,
            _db: db,
        }
    }

    async fn chatbot(&self) -> Uuid {
        crate::helpers::create_chatbot(&self.client, &self.chat_address, &self.token).await
    }

    async fn create_workflow(&self, body: &Value) -> String {
        let response = self
            .client
            .post(format!("{}/api/v1/workflows", self.address))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let created: Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    async fn publish_sentiment(&self, id: &str, chatbot: Uuid, session: &str, score: f64) {
        let event = json!({
            "specversion": "1.0", "id": id, "source": "/chat", "type": "sentiment.analyzed",
            "subject": session, "chatbotid": chatbot.to_string(),
            "userid": self.user_id.to_string(),
            "data": {"chatbot_id": chatbot, "session_id": session, "message_id": Uuid::new_v4(),
                     "user_email": null, "text": "this is awful", "score": score,
                     "label": "negative"}
        });
        self.bus
            .publish(
                EVENTS_EXCHANGE,
                OutgoingMessage::new(
                    id,
                    "sentiment.analyzed",
                    CLOUDEVENTS_CONTENT_TYPE,
                    serde_json::to_vec(&event).unwrap(),
                ),
            )
            .await
            .unwrap();
    }

    /// Consumes `executor.jobs` as the executor would.
    fn consume_jobs(&self) -> echoflow_test_support::events::Deliveries {
        echoflow_test_support::events::consume(&self.bus, EXECUTOR_JOBS)
    }
}

#[tokio::test]
async fn on_postgres_and_rabbitmq_a_burst_of_negative_turns_fires_once_per_conversation() {
    let app = DistributedApp::spawn().await;
    let chatbot = app.chatbot().await;
    let other_chatbot = app.chatbot().await;
    let workflow = app
        .create_workflow(&workflow_body(
            "escalate",
            chatbot,
            flow_with_trigger(
                "trigger.sentiment",
                json!({"threshold": -0.5, "direction": "below", "debounce_seconds": 600}),
            ),
        ))
        .await;
    let mut jobs = app.consume_jobs();

    for i in 0..5 {
        app.publish_sentiment(&format!("s1-{i}"), chatbot, "s1", -0.9)
            .await;
    }
    app.publish_sentiment("s2-0", chatbot, "s2", -0.7).await;
    app.publish_sentiment("s3-mild", chatbot, "s3", -0.2).await;
    app.publish_sentiment("other-bot", other_chatbot, "s4", -0.9)
        .await;

    let mut per_session: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..2 {
        let delivery = jobs.next_within(DEADLINE).await;
        let job = ExecutionJob::decode_bytes(&delivery.body).unwrap();
        assert_eq!(job.workflow_id, workflow);
        let trigger = job.trigger.unwrap();
        *per_session.entry(trigger.subject).or_insert(0) += 1;
    }
    if let Some(extra) = jobs.try_next_within(QUIET).await {
        let job = ExecutionJob::decode_bytes(&extra.body).unwrap();
        panic!("unexpected job for {:?}", job.trigger.map(|t| t.id));
    }
    drop(jobs);
    assert_eq!(
        per_session,
        BTreeMap::from([("s1".to_string(), 1), ("s2".to_string(), 1)])
    );
}
