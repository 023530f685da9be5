//! Run with: cargo test -p echoflow-gateway --test api
//!
//! `spawn_app()` starts the real gateway on port 0 with a temp SQLite file
//! and an in-process bus. `TEST_LOG=1` turns logs on.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use echoflow_bus::{InProcessBus, SharedBus};
use echoflow_gateway::{Application, Settings};
use echoflow_service_kit::Service;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The answer readers and error-body assertions every service's tests share.
pub use echoflow_test_support::{assert_error, read};

pub const JWT_SECRET: &str = "gateway-api-tests-jwt-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// The gateway's bus: tests publish on it what other services would.
    pub bus: SharedBus,
    pub shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    db_path: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.db_path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A loopback URL where nothing listens: bound to a free port, then released.
pub fn closed_loopback_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The gateway with both upstream services down.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&closed_loopback_url(), &closed_loopback_url()).await
}

/// The gateway routing to the given registry and executor base URLs.
pub async fn spawn_app_with(registry_url: &str, executor_url: &str) -> TestApp {
    spawn_app_configured(registry_url, executor_url, Vec::new()).await
}

/// The gateway with both upstream services down and these settings on top.
pub async fn spawn_app_with_settings(extra: Vec<(&str, String)>) -> TestApp {
    spawn_app_configured(&closed_loopback_url(), &closed_loopback_url(), extra).await
}

/// The gateway routing to the given registry and executor, with these settings on top
/// (`database.url` among them replaces the temp SQLite file).
pub async fn spawn_app_configured(
    registry_url: &str,
    executor_url: &str,
    extra: Vec<(&str, String)>,
) -> TestApp {
    let db_path = std::env::temp_dir().join(format!(
        "echoflow-gateway-test-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}?mode=rwc", db_path.display());
    let mut overrides = vec![
        ("server.host", "127.0.0.1".into()),
        ("server.port", "0".into()),
        ("database.url", url),
        ("auth.jwt_secret", JWT_SECRET.into()),
        ("services.registry_url", registry_url.into()),
        ("services.executor_url", executor_url.into()),
        ("services.public_url", "http://127.0.0.1:8080".into()),
        ("telemetry.log_format", "pretty".into()),
        ("telemetry.otlp_endpoint", String::new()),
    ];
    overrides.extend(extra);
    let settings = Settings::load(&overrides).expect("settings load");
    if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
        echoflow_service_kit::telemetry::init("gateway", &settings.common.telemetry);
    }
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let app = Application::build(settings, bus.clone())
        .await
        .expect("gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        bus,
        shutdown,
        server: Some(server),
        db_path,
    }
}

/// Sends `head` (request line and headers, without the blank line) as written, on a new
/// connection: no client normalises its path. Returns the status and the JSON body.
pub async fn raw_request(address: &str, head: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!("{head}\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A unique address for one test.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// Cancels the shutdown token and waits (up to `deadline`) until the gateway stopped.
    pub async fn stop(&mut self, deadline: Duration) {
        self.shutdown.cancel();
        let server = self.server.take().expect("the gateway runs");
        tokio::time::timeout(deadline, server)
            .await
            .expect("the gateway stops in time")
            .expect("the gateway task did not panic")
            .expect("the gateway stops cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, password: &str, name: Option<&str>) -> Response {
        let mut body = json!({"email": email, "password": password});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.post_json("/api/v1/auth/register", &body).await
    }

    pub async fn token(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/token",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn logout(&self, access_token: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/logout"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn me(&self, access_token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url("/api/v1/users/me"));
        if let Some(token) = access_token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_with_token(&self, path: &str, access_token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// Registers a new user and signs in: (email, token response body).
    pub async fn signed_in_user(&self) -> (String, Value) {
        let email = unique_email();
        let (status, body) = read(self.register(&email, PASSWORD, Some("Ada")).await).await;
        assert_eq!(status, 201, "register: {body}");
        let (status, tokens) = read(self.token(&email, PASSWORD).await).await;
        assert_eq!(status, 200, "token: {tokens}");
        (email, tokens)
    }
}
