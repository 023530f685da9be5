//! The registry under test: its databases, the app beside the real chat service, the
//! users' tokens.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use echoflow_bus::{InProcessBus, SharedBus};
use echoflow_service_kit::{JwtKeys, Service};
use echoflow_workflow_registry::{Application, Settings};

use reqwest::Client;
use secrecy::SecretString;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The answer readers and error-body assertions every service's tests share.
pub use echoflow_test_support::{assert_error, read};

pub const JWT_SECRET: &str = "registry-api-tests-jwt-secret-0123456789abcdef";
pub const INTERNAL_TOKEN: &str = "registry-api-tests-internal-token";
pub const PUBLIC_URL: &str = "http://127.0.0.1:18080";
/// How long any wait for something asynchronous may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub bus: SharedBus,
    /// Stands in for the executor: receives `POST /internal/executions`.
    pub executor: MockServer,
    /// The real chat service: `chatbot()` creates chatbots there.
    pub chat_address: String,
    /// The signed-in user of most tests, and their access token.
    pub user_id: Uuid,
    pub token: String,
    pub(super) keys: JwtKeys,
    shutdown: CancellationToken,
    pub(super) _databases: Databases,
}

/// A fresh PostgreSQL database, dropped on drop.
pub(crate) struct PgDatabase(echoflow_test_support::PgDatabase);

impl PgDatabase {
    pub(crate) async fn new() -> Self {
        Self(echoflow_test_support::PgDatabase::new("registry_test").await)
    }

    pub(crate) fn url(&self) -> String {
        self.0.url()
    }
}

/// Where a test app keeps its data; removed when the app is dropped.
pub(super) enum Databases {
    Postgres(PgDatabase),
    Sqlite(Vec<PathBuf>),
}

impl Databases {
    pub(super) fn urls(&self) -> (String, String) {
        match self {
            Databases::Postgres(db) => (db.url(), db.url()),
            Databases::Sqlite(paths) => {
                let url = |p: &PathBuf| format!("sqlite://{}?mode=rwc", p.display());
                (url(&paths[0]), url(&paths[1]))
            }
        }
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        if let Databases::Sqlite(paths) = self {
            for db in paths.iter() {
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = db.clone().into_os_string();
                    path.push(suffix);
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The registry on a fresh PostgreSQL database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Databases::Postgres(PgDatabase::new().await), Vec::new()).await
}

/// The registry on a fresh PostgreSQL database, with these settings besides.
pub async fn spawn_app_with_settings(extra: Vec<(&'static str, String)>) -> TestApp {
    spawn_app_with(Databases::Postgres(PgDatabase::new().await), extra).await
}

/// The registry on temp SQLite files.
pub async fn spawn_app_on_sqlite() -> TestApp {
    let file = |what: &str| {
        std::env::temp_dir().join(format!(
            "echoflow-registry-test-{what}-{}.db",
            Uuid::new_v4().simple()
        ))
    };
    spawn_app_with(
        Databases::Sqlite(vec![file("registry"), file("chat")]),
        Vec::new(),
    )
    .await
}

async fn spawn_app_with(databases: Databases, extra: Vec<(&'static str, String)>) -> TestApp {
    let executor = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/internal/executions"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&executor)
        .await;
    let (url, chat_url) = databases.urls();
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let shutdown = CancellationToken::new();
    let chat_address = spawn_chat(chat_url, INTERNAL_TOKEN, bus.clone(), shutdown.clone()).await;
    let mut overrides = vec![
        ("server.host", "127.0.0.1".into()),
        ("server.port", "0".into()),
        ("database.url", url),
        ("auth.jwt_secret", JWT_SECRET.into()),
        ("auth.internal_token", INTERNAL_TOKEN.into()),
        ("services.executor_url", executor.uri()),
        ("services.chat_url", chat_address.clone()),
        ("services.registry_url", "http://127.0.0.1:9".into()),
        ("services.public_url", PUBLIC_URL.into()),
        ("telemetry.log_format", "pretty".into()),
        ("telemetry.otlp_endpoint", String::new()),
    ];
    overrides.extend(extra);
    let settings = Settings::load(&overrides).expect("settings load");
    if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
        echoflow_service_kit::telemetry::init("workflow-registry", &settings.common.telemetry);
    }
    let app = Application::build(settings, bus.clone())
        .await
        .expect("registry builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let keys = JwtKeys::new(&SecretString::from(JWT_SECRET), 900);
    let user_id = Uuid::new_v4();
    let token = keys.issue(user_id, "owner@example.com").unwrap();
    TestApp {
        address,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        bus,
        executor,
        chat_address,
        user_id,
        token,
        keys,
        shutdown,
        _databases: databases,
    }
}

/// Starts the chat service on port 0 until `shutdown`; returns its address.
pub async fn spawn_chat(
    database_url: String,
    internal_token: &str,
    bus: SharedBus,
    shutdown: CancellationToken,
) -> String {
    echoflow_test_support::chat::spawn(database_url, JWT_SECRET, internal_token, bus, shutdown)
        .await
}

/// A new chatbot, created in chat by the user `token` belongs to.
pub async fn create_chatbot(client: &Client, chat_address: &str, token: &str) -> Uuid {
    let response = client
        .post(format!("{chat_address}/api/v1/chatbots"))
        .bearer_auth(token)
        .json(&json!({"name": "test bot"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 201, "create chatbot: {body}");
    Uuid::parse_str(body["id"].as_str().unwrap()).unwrap()
}
