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
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

/// The answer readers and error-body assertions every service's tests share.
pub use echoflow_test_support::{assert_error, assert_invalid, read};

pub const JWT_SECRET: &str = "integrations-api-tests-jwt-secret-0123456789";
pub const INTERNAL_TOKEN: &str = "integrations-api-tests-internal-token";
pub const INTERNAL_HEADER: &str = "x-echoflow-internal-token";
pub const REDIRECT_BASE: &str = "http://127.0.0.1:9/app";

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

/// The query of a URL as a map.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The form fields of a request body.
pub fn form_of(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// The PKCE S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Matches a token request trading `code`, whose `code_verifier` hashes to
/// `challenge`, sent with the app's credentials and redirect URI.
pub struct CodeExchange {
    pub provider: String,
    pub code: String,
    pub challenge: String,
}

impl Match for CodeExchange {
    fn matches(&self, request: &Request) -> bool {
        let form = form_of(request);
        let p = &self.provider;
        let field = |k: &str| form.get(k).map(String::as_str);
        field("grant_type") == Some("authorization_code")
            && field("code") == Some(self.code.as_str())
            && field("client_id") == Some(format!("{p}-client").as_str())
            && field("client_secret") == Some(format!("{p}-secret").as_str())
            && field("redirect_uri")
                == Some(format!("{REDIRECT_BASE}/api/v1/integrations/{p}/callback").as_str())
            && field("code_verifier").is_some_and(|v| s256(v) == self.challenge)
    }
}

/// Matches a form body holding `field` = `value`.
pub struct Form(pub &'static str, pub String);

impl Match for Form {
    fn matches(&self, request: &Request) -> bool {
        form_of(request).get(self.0) == Some(&self.1)
    }
}

/// A token endpoint answer: standard fields, plus what `provider` adds.
pub fn token_body(
    provider: &str,
    access: &str,
    refresh: Option<&str>,
    expires_in: Option<u64>,
) -> Value {
    let mut body = json!({"access_token": access, "token_type": "Bearer"});
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if let Some(e) = expires_in {
        body["expires_in"] = json!(e);
    }
    match provider {
        "slack" => {
            body["ok"] = json!(true);
            body["token_type"] = json!("bot");
            body["scope"] = json!("chat:write,channels:read");
            body["team"] = json!({"id": "T0001", "name": "Acme"});
        }
        "salesforce" => {
            body["scope"] = json!("api refresh_token");
            body["id"] = json!("https://login.salesforce.com/id/00D000000000001/005000000000001");
        }
        _ => {}
    }
    body
}

// ---------------------------------------------------------------- requests

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A token for a new user: (their id, their token).
    pub fn other_user(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        let token = self
            .keys
            .issue(id, &format!("{}@example.com", id.simple()))
            .unwrap();
        (id, token)
    }

    async fn send(&self, request: RequestBuilder) -> (u16, Value) {
        read(request.send().await.unwrap()).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.post(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
            .await
    }

    /// `GET /api/v1/integrations` as `token`; must succeed.
    pub async fn list_as(&self, token: &str) -> Value {
        let (status, body) = self.get_as(token, "/api/v1/integrations").await;
        assert_eq!(status, 200, "list: {body}");
        body
    }

    pub async fn list(&self) -> Value {
        self.list_as(&self.token).await
    }

    /// Starts a connect as `token`; must succeed: (state, authorization URL query).
    pub async fn start_connect_as(
        &self,
        token: &str,
        provider: &str,
    ) -> (String, HashMap<String, String>) {
        let (status, body) = self
            .get_as(token, &format!("/api/v1/integrations/{provider}/connect"))
            .await;
        assert_eq!(status, 200, "connect: {body}");
        let state = body["state"].as_str().unwrap().to_string();
        let query = query_of(body["authorization_url"].as_str().unwrap());
        assert_eq!(query["state"], state);
        (state, query)
    }

    /// The provider's redirect back, with `bearer` if given.
    pub async fn callback(
        &self,
        provider: &str,
        query: &[(&str, &str)],
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .get(self.url(&format!("/api/v1/integrations/{provider}/callback")))
            .query(query);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// A whole connect of the main user whose token endpoint answers `tokens`; the connection.
    pub async fn connect(&self, provider: &str, tokens: Value) -> Value {
        self.connect_as(&self.token, provider, tokens).await
    }

    pub async fn connect_as(&self, token: &str, provider: &str, tokens: Value) -> Value {
        let (state, query) = self.start_connect_as(token, provider).await;
        let code = format!("code-{}", Uuid::new_v4().simple());
        Mock::given(method("POST"))
            .and(path(format!("/{provider}/token")))
            .and(CodeExchange {
                provider: provider.into(),
                code: code.clone(),
                challenge: query["code_challenge"].clone(),
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(tokens))
            .up_to_n_times(1)
            .expect(1)
            .mount(&self.provider)
            .await;
        let (status, body) = self
            .callback(provider, &[("code", &code), ("state", &state)], None)
            .await;
        assert!(status == 201 || status == 200, "callback: {status} {body}");
        body
    }

    /// Mounts a refresh of `refresh` at `provider`'s token endpoint answering `answer`, expected `times`.
    pub async fn on_refresh(
        &self,
        provider: &str,
        refresh: &str,
        answer: ResponseTemplate,
        times: u64,
    ) {
        Mock::given(method("POST"))
            .and(path(format!("/{provider}/token")))
            .and(Form("grant_type", "refresh_token".into()))
            .and(Form("refresh_token", refresh.into()))
            .respond_with(answer)
            .expect(times)
            .mount(&self.provider)
            .await;
    }

    // ------------------------------------------------------------ internal

    pub async fn internal_get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header(INTERNAL_HEADER, token);
        }
        self.send(request).await
    }

    /// `POST /internal/actions/{action}` with the service token.
    pub async fn action(&self, action: &str, body: &Value) -> (u16, Value) {
        let (status, _, body) = self.action_with_headers(action, body).await;
        (status, body)
    }

    /// The same, with the answer's Retry-After (seconds) if any.
    pub async fn action_with_headers(
        &self,
        action: &str,
        body: &Value,
    ) -> (u16, Option<u64>, Value) {
        let response = self
            .client
            .post(self.url(&format!("/internal/actions/{action}")))
            .header(INTERNAL_HEADER, INTERNAL_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let (status, body) = read(response).await;
        (status, retry_after, body)
    }

    /// An action call of the main user on `connection` with `input`.
    pub fn action_body(&self, connection: &Value, input: Value) -> Value {
        json!({
            "connection_id": connection["id"],
            "owner_id": self.user_id,
            "chatbot_id": null,
            "execution_id": Uuid::new_v4(),
            "idempotency_key": format!("step-{}", Uuid::new_v4().simple()),
            "input": input,
        })
    }

    /// Requests the provider fake received at `path`.
    pub async fn received_at(&self, path: &str) -> Vec<Request> {
        self.provider
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == path)
            .collect()
    }

    // ------------------------------------------------------------ database

    /// The service's own database, for reading rows directly.
    pub async fn db(&self) -> DatabaseConnection {
        echoflow_service_kit::db::connect(
            &SecretString::from(self.db_url.clone()),
            "integrations",
            2,
        )
        .await
        .unwrap()
    }

    /// The database URL the instance was started with.
    pub fn settings_db_url(&self) -> String {
        self.db_url.clone()
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::parse(
            &self.settings.integrations.encryption_keys,
            &self.settings.integrations.active_key_id,
        )
        .unwrap()
    }

    // ------------------------------------------------------------ events

    /// Starts collecting what the service publishes on `echoflow.events`.
    pub fn events(&self) -> Events {
        echoflow_test_support::events::collect(&self.bus)
    }
}

pub use echoflow_test_support::events::Events;
