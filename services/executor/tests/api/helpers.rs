//! Run with: cargo test -p echoflow-executor --test api
//!
//! The harness: a real executor on port 0 with a fresh SQLite file and its own
//! in-process bus, users with access tokens, jobs built the way the registry
//! builds them (definition -> parse -> compile -> ExecutionJob), and polling
//! with a deadline.

use echoflow_bus::{
    Delivery, HandleError, InProcessBus, MessageHandler, OutgoingMessage, SharedBus, topology,
};
use echoflow_contracts::{ExecutionJob, Message, TriggerEvent};
use echoflow_domain::ExecutionPlan;
use echoflow_executor::{Application, Settings};
use echoflow_service_kit::{JwtKeys, Service};
use echoflow_test_support::{TestDb, TestVhost};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const SECRET: &str = "executor-api-tests-jwt-secret-long-enough-for-hs256";
pub const INTERNAL_TOKEN: &str = "executor-api-tests-internal-token";
/// The executor's AI provider model and key (`executor.ai_model`, `executor.ai_api_key`).
pub const AI_MODEL: &str = "test-model-1";
pub const AI_API_KEY: &str = "executor-api-tests-ai-key";
/// The longest any wait in these tests may take.
pub const DEADLINE: Duration = Duration::from_secs(15);
const POLL_EVERY: Duration = Duration::from_millis(25);

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let settings = Settings::load(&[
            ("telemetry.log_format", "pretty".into()),
            ("telemetry.log_level", "info,sqlx=warn,sea_orm=warn".into()),
        ])
        .unwrap();
        echoflow_service_kit::telemetry::init("executor", &settings.common.telemetry);
    }
});

/// How to start an executor for a test.
#[derive(Debug, Clone)]
pub struct Options {
    pub allow_networks: String,
    /// `executor.egress`: `public` or `allowlist`.
    pub egress: String,
    pub concurrency: u16,
    /// Reuse this database file (kept after the app stops); a fresh temp file otherwise.
    pub db_path: Option<PathBuf>,
    pub recover_on_start: bool,
    pub max_output_bytes: usize,
    /// `executor.ai_base_url`; empty: no AI provider.
    pub ai_base_url: String,
    /// PostgreSQL and RabbitMQ instead of a SQLite file and the in-process bus.
    pub distributed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_networks: "127.0.0.0/8".into(),
            egress: "public".into(),
            concurrency: 32,
            db_path: None,
            recover_on_start: false,
            max_output_bytes: 1024 * 1024,
            ai_base_url: String::new(),
            distributed: false,
        }
    }
}

pub fn temp_db_path() -> PathBuf {
    std::env::temp_dir().join(format!("exec-{}.db", Uuid::new_v4().simple()))
}

pub struct TestApp {
    pub address: String,
    pub bus: SharedBus,
    /// The PostgreSQL database and RabbitMQ vhost of a distributed app.
    infra: Option<(TestDb, TestVhost)>,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    owns_db: bool,
    shutdown: CancellationToken,
    running: Option<JoinHandle<Result<(), String>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// The executor on a fresh PostgreSQL database and RabbitMQ vhost.
pub async fn spawn_distributed_app() -> TestApp {
    spawn_app_with(Options {
        distributed: true,
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    LazyLock::force(&TRACING);
    let owns_db = options.db_path.is_none() && !options.distributed;
    let db_path = options.db_path.clone().unwrap_or_else(temp_db_path);
    let infra = if options.distributed {
        Some((TestDb::create().await, TestVhost::create()))
    } else {
        None
    };
    let database_url = match &infra {
        Some((db, _)) => db.url(),
        None => format!("sqlite://{}?mode=rwc", db_path.display()),
    };
    let settings = Settings::load(&[
        ("server.host", "127.0.0.1".into()),
        ("server.port", "0".into()),
        ("database.url", database_url),
        ("database.max_connections", "5".into()),
        ("auth.jwt_secret", SECRET.into()),
        ("auth.internal_token", INTERNAL_TOKEN.into()),
        ("executor.allow_networks", options.allow_networks.clone()),
        ("executor.egress", options.egress.clone()),
        ("executor.concurrency", options.concurrency.to_string()),
        (
            "executor.recover_on_start",
            options.recover_on_start.to_string(),
        ),
        (
            "executor.max_output_bytes",
            options.max_output_bytes.to_string(),
        ),
        ("executor.ai_base_url", options.ai_base_url.clone()),
        ("executor.ai_model", AI_MODEL.into()),
        ("executor.ai_api_key", AI_API_KEY.into()),
    ])
    .expect("settings load");
    let bus: SharedBus = match &infra {
        Some((_, vhost)) => Arc::new(
            echoflow_bus::RabbitBus::connect(&vhost.url())
                .await
                .expect("RabbitMQ is up"),
        ),
        None => Arc::new(InProcessBus::new()),
    };
    let app = Application::build(settings, bus.clone())
        .await
        .expect("the executor builds");
    let port = app.port();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let running = tokio::spawn(async move {
        app.run_until_stopped(token)
            .await
            .map_err(|e| format!("{e:#}"))
    });
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        bus,
        infra,
        client: reqwest::Client::new(),
        db_path,
        owns_db,
        shutdown,
        running: Some(running),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some((db, vhost)) = self.infra.take() {
            // Drop runs inside the test's runtime: clean up on a thread of our own.
            let _ = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(async {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        db.drop_database().await;
                    });
                }
                vhost.delete();
            })
            .join();
        }
        if self.owns_db {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = self.db_path.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// A user with an access token.
pub struct TestUser {
    pub id: Uuid,
    pub token: String,
}

impl TestUser {
    pub fn new() -> Self {
        let id = Uuid::new_v4();
        let email = format!("{}@example.test", id.simple());
        let token = JwtKeys::new(&SecretString::from(SECRET), 900)
            .issue(id, &email)
            .unwrap();
        Self { id, token }
    }
}

impl TestApp {
    /// Stops the app and waits until its in-flight jobs and servers ended.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            tokio::time::timeout(DEADLINE, running)
                .await
                .expect("the executor stops in time")
                .unwrap()
                .unwrap();
        }
    }

    /// The executor's database (the PostgreSQL one of a distributed app, or its SQLite file).
    pub fn database_url(&self) -> String {
        match &self.infra {
            Some((db, _)) => db.url(),
            None => format!("sqlite://{}?mode=rwc", self.db_path.display()),
        }
    }

    /// A connection of the test's own to the executor's database.
    pub async fn database(&self) -> sea_orm::DatabaseConnection {
        echoflow_service_kit::db::connect(&SecretString::from(self.database_url()), "executions", 1)
            .await
            .expect("the executor's database")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn get_execution(&self, id: &str, user: &TestUser) -> reqwest::Response {
        self.get(&format!("/api/v1/executions/{id}"), Some(&user.token))
            .await
    }

    pub async fn list_executions(&self, query: &str, user: &TestUser) -> reqwest::Response {
        self.get(&format!("/api/v1/executions{query}"), Some(&user.token))
            .await
    }

    /// `POST /internal/executions` with a protobuf body and the given service token.
    pub async fn announce(&self, body: Vec<u8>, internal_token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/internal/executions", self.address))
            .header("content-type", "application/x-protobuf")
            .body(body);
        if let Some(token) = internal_token {
            request = request.header("x-echoflow-internal-token", token);
        }
        request.send().await.unwrap()
    }

    /// Publishes the job on `echoflow.jobs` as the registry's outbox does.
    pub async fn publish_job(&self, job: &ExecutionJob) {
        self.publish_raw(&job.execution_id, job.encode_to_vec())
            .await;
    }

    pub async fn publish_raw(&self, message_id: &str, body: Vec<u8>) {
        self.bus
            .publish(
                topology::JOBS_EXCHANGE,
                OutgoingMessage::new(message_id, "execution", "application/x-protobuf", body),
            )
            .await
            .unwrap();
    }

    /// Polls `GET /api/v1/executions/{id}` until the execution reached a final status.
    pub async fn wait_final(&self, id: &str, user: &TestUser) -> Value {
        self.wait_final_within(id, user, DEADLINE).await
    }

    /// Like [`Self::wait_final`], with its own deadline.
    pub async fn wait_final_within(&self, id: &str, user: &TestUser, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        let mut last = Value::Null;
        loop {
            let response = self.get_execution(id, user).await;
            if response.status() == 200 {
                last = response.json().await.unwrap();
                if matches!(
                    last["status"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                ) {
                    return last;
                }
            }
            assert!(
                Instant::now() < deadline,
                "execution {id} did not finish within {limit:?}; last seen: {last}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Publishes the job and waits for its final state.
    pub async fn run(&self, job: &ExecutionJob, user: &TestUser) -> Value {
        self.publish_job(job).await;
        self.wait_final(&job.execution_id, user).await
    }

    /// Consumes `executor.dead` on this app's bus into a channel.
    pub fn dead_letters(&self) -> DeadLetters {
        let (tx, rx) = mpsc::unbounded_channel();
        let bus = self.bus.clone();
        let stop = self.shutdown.child_token();
        tokio::spawn(async move {
            bus.consume(topology::EXECUTOR_DEAD, 1, Arc::new(Forward(tx)), stop)
                .await
        });
        DeadLetters(rx)
    }
}

struct Forward(mpsc::UnboundedSender<Delivery>);

#[async_trait::async_trait]
impl MessageHandler for Forward {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        self.0
            .send(delivery)
            .map_err(|e| HandleError::Permanent(e.to_string()))
    }
}

pub struct DeadLetters(mpsc::UnboundedReceiver<Delivery>);

impl DeadLetters {
    pub async fn next(&mut self) -> Delivery {
        tokio::time::timeout(DEADLINE, self.0.recv())
            .await
            .expect("a dead letter within the deadline")
            .expect("the dead-letter consumer is running")
    }
}

// ---- workflow definitions, the React Flow way -------------------------------

pub fn node(id: &str, node_type: &str, config: Value) -> Value {
    json!({
        "id": id,
        "type": node_type,
        "position": {"x": 0, "y": 0},
        "data": {"label": id, "config": config}
    })
}

pub fn webhook(id: &str) -> Value {
    node(id, "trigger.webhook", json!({}))
}

/// An edge leaving `source` by its default output.
pub fn edge(source: &str, target: &str) -> Value {
    json!({"id": format!("{source}->{target}"), "source": source, "target": target})
}

/// An edge leaving `source` by `handle`.
pub fn edge_by(source: &str, handle: &str, target: &str) -> Value {
    json!({
        "id": format!("{source}-{handle}->{target}"),
        "source": source,
        "target": target,
        "sourceHandle": handle
    })
}

pub fn definition(nodes: Vec<Value>, edges: Vec<Value>) -> Value {
    json!({"nodes": nodes, "edges": edges})
}

/// A saved workflow version: its ids and compiled plan.
pub struct Workflow {
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub plan: ExecutionPlan,
}

impl Workflow {
    /// Parses and compiles `definition` as the registry does when a version is saved.
    pub fn new(definition: Value) -> Self {
        let parsed = echoflow_domain::parse_definition(&definition)
            .unwrap_or_else(|faults| panic!("definition does not parse: {faults:?}"));
        let plan = echoflow_domain::compile(&parsed)
            .unwrap_or_else(|faults| panic!("definition does not compile: {faults:?}"));
        Self {
            id: Uuid::new_v4(),
            chatbot_id: Uuid::new_v4(),
            plan,
        }
    }

    /// The job of one webhook call carrying `body`.
    pub fn job(&self, owner: &TestUser, body: Value) -> ExecutionJob {
        let data = json!({
            "body": body,
            "headers": {"content-type": "application/json"},
            "query": {}
        });
        ExecutionJob {
            execution_id: Uuid::now_v7().to_string(),
            workflow_id: self.id.to_string(),
            workflow_version: 1,
            owner_id: owner.id.to_string(),
            chatbot_id: self.chatbot_id.to_string(),
            trigger: Some(TriggerEvent {
                id: Uuid::new_v4().to_string(),
                source: format!("/webhooks/{}", self.id),
                r#type: echoflow_contracts::EventType::WebhookReceived
                    .as_str()
                    .into(),
                specversion: "1.0".into(),
                time: chrono::Utc::now().to_rfc3339(),
                subject: String::new(),
                datacontenttype: "application/json".into(),
                data_json: data.to_string(),
                chatbot_id: self.chatbot_id.to_string(),
                user_id: String::new(),
            }),
            plan_json: serde_json::to_string(&self.plan).unwrap(),
            retry_of: String::new(),
            queued_at: chrono::Utc::now().to_rfc3339(),
        }
    }
}

// ---- reading executions -------------------------------------------------------

/// The node ids of the recorded steps, in the order they ran.
pub fn step_ids(execution: &Value) -> Vec<String> {
    execution["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps array in {execution}"))
        .iter()
        .map(|s| s["node_id"].as_str().unwrap().to_string())
        .collect()
}

/// The recorded step of `node_id`.
pub fn step<'a>(execution: &'a Value, node_id: &str) -> &'a Value {
    execution["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["node_id"] == node_id))
        .unwrap_or_else(|| panic!("no step '{node_id}' in {execution}"))
}
