//! Run with: cargo test -p echoflow-chat --test api
//!
//! `spawn_app()` starts the real chat service on port 0 with a temp SQLite
//! file and an in-process bus; `spawn_app_with_provider()` points its reply
//! provider at a wiremock server on loopback. `TEST_LOG=1` turns logs on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use echoflow_bus::{InProcessBus, SharedBus};
use echoflow_chat::{Application, Settings};
use echoflow_service_kit::{JwtKeys, Service};
use reqwest::{Client, RequestBuilder};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// The answer readers and error-body assertions every service's tests share.
pub use echoflow_test_support::{assert_error, assert_invalid, read};

pub const JWT_SECRET: &str = "chat-api-tests-jwt-secret-0123456789abcdef";
pub const INTERNAL_TOKEN: &str = "chat-api-tests-internal-token";
pub const INTERNAL_HEADER: &str = "x-echoflow-internal-token";
pub const KEY_HEADER: &str = "X-Chatbot-Key";
pub const SESSION_TOKEN_HEADER: &str = "X-Session-Token";

pub const HOURS_QUESTION: &str = "What are your opening hours?";
pub const HOURS_ANSWER: &str = "We are open Monday to Saturday, 9am to 6pm.";
pub const ANGRY: &str =
    "This is terrible, my order arrived broken and nobody answers. I am furious!";
pub const DEFAULT_FALLBACK: &str = "Sorry, I don't have an answer to that yet. Could you rephrase, or leave your email so a person can get back to you?";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub bus: SharedBus,
    /// The signed-in user of most tests, and their access token.
    pub user_id: Uuid,
    pub token: String,
    keys: JwtKeys,
    shutdown: CancellationToken,
    db_path: PathBuf,
    /// The PostgreSQL database of an app on PostgreSQL, dropped after it.
    _pg: Option<echoflow_test_support::PgDatabase>,
    /// The session token of every conversation a chat answer opened, by
    /// session id: what a widget keeps to continue its conversation.
    session_tokens: Mutex<HashMap<String, String>>,
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

/// Chat with the built-in responder only (no provider configured).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Vec::new()).await
}

/// Chat whose reply provider is `provider` (`{uri}/v1`), with that API key
/// (empty = none) and timeout.
pub async fn spawn_app_with_provider(
    provider: &MockServer,
    api_key: &str,
    timeout_ms: u64,
) -> TestApp {
    spawn_app_with(vec![
        ("chat.provider_base_url", format!("{}/v1", provider.uri())),
        ("chat.provider_model", "test-model".into()),
        ("chat.provider_api_key", api_key.into()),
        ("chat.provider_timeout_ms", timeout_ms.to_string()),
    ])
    .await
}

/// Chat on a fresh PostgreSQL database (127.0.0.1:5432) instead of SQLite.
pub async fn spawn_app_on_postgres() -> TestApp {
    let pg = echoflow_test_support::PgDatabase::new("chat_test").await;
    let mut app = spawn_on(Some(pg.url()), Vec::new()).await;
    app._pg = Some(pg);
    app
}

pub async fn spawn_app_with(extra: Vec<(&'static str, String)>) -> TestApp {
    spawn_on(None, extra).await
}

/// Chat on `database_url`, or on a fresh SQLite file.
async fn spawn_on(database_url: Option<String>, extra: Vec<(&'static str, String)>) -> TestApp {
    let db_path =
        std::env::temp_dir().join(format!("echoflow-chat-test-{}.db", Uuid::new_v4().simple()));
    let url = database_url.unwrap_or_else(|| format!("sqlite://{}?mode=rwc", db_path.display()));
    let mut overrides: Vec<(&str, String)> = vec![
        ("server.host", "127.0.0.1".into()),
        ("server.port", "0".into()),
        ("database.url", url),
        ("auth.jwt_secret", JWT_SECRET.into()),
        ("auth.internal_token", INTERNAL_TOKEN.into()),
        ("services.registry_url", "http://127.0.0.1:9".into()),
        ("services.executor_url", "http://127.0.0.1:9".into()),
        ("services.chat_url", "http://127.0.0.1:9".into()),
        ("services.public_url", "http://127.0.0.1:9".into()),
        ("telemetry.log_format", "pretty".into()),
        ("telemetry.otlp_endpoint", String::new()),
        // Whatever the environment says, no provider unless a test names one.
        ("chat.provider_base_url", String::new()),
        ("chat.provider_api_key", String::new()),
    ];
    overrides.extend(extra);
    let settings = Settings::load(&overrides).expect("settings load");
    if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
        echoflow_service_kit::telemetry::init("chat", &settings.common.telemetry);
    }
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let app = Application::build(settings, bus.clone())
        .await
        .expect("chat builds");
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
            .build()
            .unwrap(),
        bus,
        user_id,
        token,
        keys,
        shutdown,
        db_path,
        _pg: None,
        session_tokens: Mutex::default(),
    }
}

/// A chatbot as its owner got it at creation.
#[derive(Debug, Clone)]
pub struct Chatbot {
    pub id: String,
    pub api_key: String,
    pub body: Value,
}

/// An OpenAI-compatible chat-completions answer.
pub fn completion(text: &str) -> Value {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})
}

/// A provider that answers `LLM: <the last message it was given>`, so a
/// test can tell every reply (and so every remembered turn) apart.
pub struct EchoCompletion;

impl Respond for EchoCompletion {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(completion(&format!("LLM: {last}")))
    }
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

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn put_as(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
            .await
    }

    // ------------------------------------------------------------ chatbots

    pub async fn create_chatbot_as(&self, token: &str, body: &Value) -> (u16, Value) {
        self.post_as(token, "/api/v1/chatbots", body).await
    }

    /// Creates a chatbot of the main user that must be valid.
    pub async fn chatbot_with(&self, body: Value) -> Chatbot {
        self.chatbot_of(&self.token, body).await
    }

    pub async fn chatbot_of(&self, token: &str, body: Value) -> Chatbot {
        let (status, created) = self.create_chatbot_as(token, &body).await;
        assert_eq!(status, 201, "create chatbot: {created}");
        Chatbot {
            id: created["id"].as_str().unwrap().to_string(),
            api_key: created["api_key"].as_str().unwrap().to_string(),
            body: created,
        }
    }

    /// A chatbot of the main user with the opening-hours FAQ.
    pub async fn faq_bot(&self) -> Chatbot {
        self.faq_bot_with(json!({"name": "Shop bot"})).await
    }

    pub async fn faq_bot_with(&self, body: Value) -> Chatbot {
        let bot = self.chatbot_with(body).await;
        self.add_faq(&bot, HOURS_QUESTION, HOURS_ANSWER).await;
        bot
    }

    pub async fn add_faq(&self, bot: &Chatbot, question: &str, answer: &str) -> Value {
        let (status, faq) = self
            .post_as(
                &self.token,
                &format!("/api/v1/chatbots/{}/faqs", bot.id),
                &json!({"question": question, "answer": answer}),
            )
            .await;
        assert_eq!(status, 201, "create FAQ: {faq}");
        faq
    }

    pub async fn add_intent(&self, bot: &Chatbot, name: &str, examples: &[&str]) -> Value {
        let (status, intent) = self
            .post_as(
                &self.token,
                &format!("/api/v1/chatbots/{}/intents", bot.id),
                &json!({"name": name, "examples": examples}),
            )
            .await;
        assert_eq!(status, 201, "create intent: {intent}");
        intent
    }

    // ------------------------------------------------------------ chat

    /// `POST /api/v1/chat` with the key (if any) and the body as given, and no
    /// session token; the token of a conversation it opens is kept.
    pub async fn chat(&self, key: Option<&str>, body: &Value) -> (u16, Value) {
        self.chat_proving(key, None, body).await
    }

    /// `POST /api/v1/chat` with the key and session token (if any) and the body as given.
    pub async fn chat_proving(
        &self,
        key: Option<&str>,
        session_token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let mut request = self.client.post(self.url("/api/v1/chat")).json(body);
        if let Some(key) = key {
            request = request.header(KEY_HEADER, key);
        }
        if let Some(token) = session_token {
            request = request.header(SESSION_TOKEN_HEADER, token);
        }
        let (status, answer) = self.send(request).await;
        self.keep_token(&answer);
        (status, answer)
    }

    fn keep_token(&self, answer: &Value) {
        if let (Some(id), Some(token)) = (
            answer["session_id"].as_str(),
            answer["session_token"].as_str(),
        ) {
            let mut tokens = self.session_tokens.lock().unwrap();
            tokens.insert(id.to_string(), token.to_string());
        }
    }

    /// The session token a chat answer handed out for `session_id`.
    pub fn session_token(&self, session_id: &str) -> Option<String> {
        self.session_tokens.lock().unwrap().get(session_id).cloned()
    }

    /// The token of the conversation `body` continues (its `session_id`), as a widget sends it.
    fn token_for(&self, body: &Value) -> Option<String> {
        body["session_id"]
            .as_str()
            .and_then(|id| self.session_token(id))
    }

    /// Sends every body at once with `key` (and the token of the conversation
    /// a body continues); the answers in completion order.
    pub async fn chat_concurrently(&self, key: &str, bodies: Vec<Value>) -> Vec<(u16, Value)> {
        let mut sends = tokio::task::JoinSet::new();
        for body in bodies {
            let mut request = self
                .client
                .post(self.url("/api/v1/chat"))
                .header(KEY_HEADER, key)
                .json(&body);
            if let Some(token) = self.token_for(&body) {
                request = request.header(SESSION_TOKEN_HEADER, token);
            }
            sends.spawn(async move { read(request.send().await.unwrap()).await });
        }
        sends.join_all().await
    }

    /// Sends `body` (chatbot_id added) with the bot's key, and the session
    /// token when it continues a conversation; must succeed.
    pub async fn say_with(&self, bot: &Chatbot, mut body: Value) -> Value {
        body["chatbot_id"] = json!(bot.id);
        let token = self.token_for(&body);
        let (status, answer) = self
            .chat_proving(Some(&bot.api_key), token.as_deref(), &body)
            .await;
        assert_eq!(status, 200, "chat: {answer}");
        answer
    }

    /// A message opening a new anonymous conversation.
    pub async fn say(&self, bot: &Chatbot, message: &str) -> Value {
        self.say_with(bot, json!({"message": message})).await
    }

    /// A message continuing `session_id`, proven with its token.
    pub async fn say_in(&self, bot: &Chatbot, session_id: &str, message: &str) -> Value {
        self.say_with(bot, json!({"message": message, "session_id": session_id}))
            .await
    }

    // ------------------------------------------------------------ history

    pub async fn conversations_as(&self, token: &str, bot_id: &str, query: &str) -> (u16, Value) {
        self.get_as(
            token,
            &format!("/api/v1/chatbots/{bot_id}/conversations{query}"),
        )
        .await
    }

    /// The main user's conversations of `bot`; must succeed.
    pub async fn conversations(&self, bot: &Chatbot, query: &str) -> Value {
        let (status, list) = self.conversations_as(&self.token, &bot.id, query).await;
        assert_eq!(status, 200, "conversations: {list}");
        list
    }

    /// The main user's view of a conversation's messages; must succeed.
    pub async fn messages(&self, session_id: &str) -> Value {
        let (status, list) = self
            .get_as(
                &self.token,
                &format!("/api/v1/conversations/{session_id}/messages"),
            )
            .await;
        assert_eq!(status, 200, "messages: {list}");
        list
    }

    // ------------------------------------------------------------ internal

    pub async fn internal_get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header(INTERNAL_HEADER, token);
        }
        self.send(request).await
    }

    pub async fn internal_post(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.header(INTERNAL_HEADER, token);
        }
        self.send(request).await
    }

    // ------------------------------------------------------------ events

    /// Starts collecting what the service publishes on `echoflow.events`.
    pub fn events(&self) -> Events {
        echoflow_test_support::events::collect(&self.bus)
    }
}

pub use echoflow_test_support::events::Events;

/// The `type`s of `events`, in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}
