//! Run with: cargo test -p echoflow-integrations --test api
//!
//! `spawn_app()` starts the real integrations service on port 0 with a fresh
//! PostgreSQL database (127.0.0.1:5432, user postgres) and an in-process
//! bus; `spawn_sqlite_app()` uses a temp SQLite file instead. One wiremock
//! server on loopback fakes every provider: `/{provider}/authorize`,
//! `/{provider}/token` and `/{provider}/api` (Salesforce: the
//! `instance_url` its token endpoint returns, `/salesforce/instance`).
//! `TEST_LOG=1` turns logs on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use echoflow_bus::{InProcessBus, SharedBus};
use echoflow_integrations::{Application, Keyring, Settings};
use echoflow_service_kit::{JwtKeys, Service};
use reqwest::{Client, RequestBuilder};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod providers;
mod requests;

pub use providers::*;

/// The answer readers and error-body assertions every service's tests share.
pub use echoflow_test_support::{assert_error, assert_invalid, read};

pub const JWT_SECRET: &str = "integrations-api-tests-jwt-secret-0123456789";
pub const INTERNAL_TOKEN: &str = "integrations-api-tests-internal-token";
pub const INTERNAL_HEADER: &str = "x-echoflow-internal-token";

pub const PROVIDERS: [&str; 4] = ["slack", "hubspot", "google_sheets", "salesforce"];

/// A key of the test keyring, as settings write it.
pub fn key_entry(id: &str, byte: u8) -> String {
    format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    )
}

// ---------------------------------------------------------------- databases

/// A fresh PostgreSQL database, dropped with the test.
pub struct PgDatabase(echoflow_test_support::PgDatabase);

impl PgDatabase {
    pub async fn new() -> Self {
        Self(echoflow_test_support::PgDatabase::new("integrations_test").await)
    }

    pub fn url(&self) -> String {
        self.0.url()
    }
}

/// A temp SQLite file, removed on drop.
pub struct SqliteFile {
    path: PathBuf,
}

impl SqliteFile {
    pub fn new() -> Self {
        Self {
            path: std::env::temp_dir().join(format!(
                "echoflow-integrations-test-{}.db",
                Uuid::new_v4().simple()
            )),
        }
    }

    pub fn url(&self) -> String {
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

pub enum TestDatabase {
    Postgres(PgDatabase),
    Sqlite(SqliteFile),
}

impl TestDatabase {
    pub fn url(&self) -> String {
        match self {
            Self::Postgres(db) => db.url(),
            Self::Sqlite(db) => db.url(),
        }
    }
}

// ---------------------------------------------------------------- the app

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub bus: SharedBus,
    /// The fake of every provider.
    pub provider: MockServer,
    /// The signed-in user of most tests, and their access token.
    pub user_id: Uuid,
    pub token: String,
    pub settings: Settings,
    keys: JwtKeys,
    shutdown: CancellationToken,
    db_url: String,
    // Dropped last: the app's pool goes first.
    _database: Arc<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Integrations on PostgreSQL with every provider configured.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Vec::new()).await
}

/// Integrations on a temp SQLite file (the embedded mode).
pub async fn spawn_sqlite_app() -> TestApp {
    spawn_sqlite_app_with(Vec::new()).await
}

pub async fn spawn_sqlite_app_with(extra: Vec<(String, String)>) -> TestApp {
    let db = Arc::new(TestDatabase::Sqlite(SqliteFile::new()));
    spawn_on(db, None, extra).await
}

pub async fn spawn_app_with(extra: Vec<(String, String)>) -> TestApp {
    let db = Arc::new(TestDatabase::Postgres(PgDatabase::new().await));
    spawn_on(db, None, extra).await
}

/// Another instance on `app`'s database and provider fake, with `extra`
/// settings (e.g. another keyring).
pub async fn spawn_sibling(app: &TestApp, extra: Vec<(String, String)>) -> TestApp {
    spawn_on(app._database.clone(), Some(app.provider.uri()), extra).await
}

/// The settings overrides of a test instance whose providers live at `fake`.
pub fn overrides(db_url: &str, fake: &str, extra: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = vec![
        ("server.host".into(), "127.0.0.1".into()),
        ("server.port".into(), "0".into()),
        ("database.url".into(), db_url.into()),
        ("database.max_connections".into(), "5".into()),
        ("auth.jwt_secret".into(), JWT_SECRET.into()),
        ("auth.internal_token".into(), INTERNAL_TOKEN.into()),
        ("services.public_url".into(), "http://127.0.0.1:9".into()),
        ("telemetry.log_format".into(), "pretty".into()),
        ("telemetry.otlp_endpoint".into(), String::new()),
        ("integrations.encryption_keys".into(), key_entry("k1", 7)),
        ("integrations.active_key_id".into(), "k1".into()),
        (
            "integrations.redirect_base_url".into(),
            REDIRECT_BASE.into(),
        ),
        ("integrations.max_limiter_wait_ms".into(), "3000".into()),
        ("integrations.request_timeout_ms".into(), "5000".into()),
    ];
    for p in PROVIDERS {
        let key = |k: &str| format!("integrations.providers.{p}.{k}");
        all.push((key("client_id"), format!("{p}-client")));
        all.push((key("client_secret"), format!("{p}-secret")));
        all.push((key("authorize_url"), format!("{fake}/{p}/authorize")));
        all.push((key("token_url"), format!("{fake}/{p}/token")));
        let api = if p == "salesforce" {
            String::new()
        } else {
            format!("{fake}/{p}/api")
        };
        all.push((key("api_base_url"), api));
        all.push((key("revoke_url"), format!("{fake}/{p}/revoke")));
        all.push((key("requests_per_minute"), "6000".into()));
        all.push((key("burst"), "100".into()));
    }
    all.extend(extra);
    all
}

async fn spawn_on(
    database: Arc<TestDatabase>,
    fake_uri: Option<String>,
    extra: Vec<(String, String)>,
) -> TestApp {
    let provider = MockServer::builder().start().await;
    let fake = fake_uri.unwrap_or_else(|| provider.uri());
    let all = overrides(&database.url(), &fake, extra);
    let borrowed: Vec<(&str, String)> = all.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let settings = Settings::load(&borrowed).expect("settings load");
    if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
        echoflow_service_kit::telemetry::init("integrations", &settings.common.telemetry);
    }
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let app = Application::build(settings.clone(), bus.clone())
        .await
        .expect("integrations builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let keys = JwtKeys::new(&SecretString::from(JWT_SECRET), 900);
    let user_id = Uuid::new_v4();
    let token = keys.issue(user_id, "owner@example.com").unwrap();
    TestApp {
        address,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        bus,
        provider,
        user_id,
        token,
        db_url: database.url(),
        settings,
        keys,
        shutdown,
        _database: database,
    }
}

pub use echoflow_test_support::events::Events;
