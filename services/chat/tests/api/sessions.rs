//! Run with: cargo test -p echoflow-chat --test api sessions
//!
//! The end user's side of a conversation: the session token a chat answer
//! hands out, the messages so far, and the live stream (also across two chat
//! replicas on PostgreSQL and RabbitMQ).

use std::sync::Arc;
use std::time::Duration;

use echoflow_bus::{RabbitBus, SharedBus};
use echoflow_chat::{Application, Settings};
use echoflow_service_kit::Service as _;
use echoflow_test_support::sse::EventStream;
use echoflow_test_support::{PgDatabase, TestVhost};
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{
    Chatbot, HOURS_ANSWER, HOURS_QUESTION, INTERNAL_TOKEN, KEY_HEADER, TestApp, assert_error, read,
    spawn_app,
};

const TOKEN_HEADER: &str = "X-Session-Token";
const WAIT: Duration = Duration::from_secs(5);

/// A conversation as its widget holds it.
struct Session {
    id: String,
    token: String,
}

fn session_of(answer: &Value) -> Session {
    Session {
        id: answer["session_id"].as_str().unwrap().to_string(),
        token: answer["session_token"].as_str().unwrap().to_string(),
    }
}

fn with_credentials(
    request: RequestBuilder,
    key: Option<&str>,
    token: Option<&str>,
) -> RequestBuilder {
    let mut request = request;
    if let Some(key) = key {
        request = request.header(KEY_HEADER, key);
    }
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    request
}

async fn session_messages(
    app: &TestApp,
    session_id: &str,
    query: &str,
    key: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let url = app.url(&format!(
        "/api/v1/chat/sessions/{session_id}/messages{query}"
    ));
    read(
        with_credentials(app.client.get(url), key, token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn open_stream(
    address: &str,
    session_id: &str,
    key: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{address}/api/v1/chat/sessions/{session_id}/stream");
    with_credentials(client.get(url), key, token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap()
}

/// The ids of the messages of `answers` (each a user message and its reply):
/// their announcements may still be on their way when a stream opens after them.
fn known(answers: &[&Value]) -> Vec<String> {
    answers
        .iter()
        .flat_map(|a| [&a["message_id"], &a["reply_message_id"]])
        .map(|id| id.as_str().unwrap().to_string())
        .collect()
}

/// A stream that must open; its first frame (`: connected`) is read.
async fn stream(address: &str, bot: &Chatbot, session: &Session) -> EventStream {
    let mut events = EventStream::new(
        open_stream(
            address,
            &session.id,
            Some(&bot.api_key),
            Some(&session.token),
        )
        .await,
    );
    events
        .next_frame(WAIT)
        .await
        .expect("the connected comment");
    events
}

/// What a workflow's `action.send_message` does: posts through chat's internal route.
async fn workflow_says(address: &str, bot: &Chatbot, session_id: &str, text: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{address}/internal/conversations/{session_id}/messages"
        ))
        .header("x-echoflow-internal-token", INTERNAL_TOKEN)
        .json(&json!({"chatbot_id": bot.id, "text": text}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn a_session_token_reads_its_own_conversation_and_nothing_else() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let first = app.say(&bot, HOURS_QUESTION).await;
    let mine = session_of(&first);
    assert!(mine.token.starts_with("est_"), "{first}");
    let other = session_of(&app.say(&bot, "Hello there").await);
    // Continuing it (with its token, see session_proof.rs) hands out the same token.
    let again = app.say_in(&bot, &mine.id, "Thanks").await;
    assert_eq!(again["session_token"], first["session_token"], "{again}");

    let (status, list) =
        session_messages(&app, &mine.id, "", Some(&bot.api_key), Some(&mine.token)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["session_id"], json!(mine.id));
    assert_eq!(list["total"], 4);
    let items = list["items"].as_array().unwrap();
    let contents: Vec<&str> = items
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents[..2], [HOURS_QUESTION, HOURS_ANSWER]);
    assert_eq!(items[0]["role"], "user");
    assert_eq!(items[0]["source"], "widget");
    assert_eq!(items[1]["source"], "faq");
    assert_eq!(items[0]["id"], first["message_id"]);
    // The owner's analysis is not the end user's to read.
    assert!(items[0].get("sentiment_score").is_none() && items[0].get("intent").is_none());

    let other_bot = app.faq_bot().await;
    let random = Uuid::new_v4().to_string();
    let refused = [
        (mine.id.as_str(), None, Some(mine.token.as_str())),
        (mine.id.as_str(), Some(bot.api_key.as_str()), None),
        // Another conversation's token, a made-up one, another chatbot's key.
        (
            mine.id.as_str(),
            Some(bot.api_key.as_str()),
            Some(other.token.as_str()),
        ),
        (mine.id.as_str(), Some(bot.api_key.as_str()), Some("est_00")),
        (
            mine.id.as_str(),
            Some(other_bot.api_key.as_str()),
            Some(mine.token.as_str()),
        ),
        (
            mine.id.as_str(),
            Some("ecb_wrong"),
            Some(mine.token.as_str()),
        ),
        // A guessed session id with a real token of another one.
        (
            random.as_str(),
            Some(bot.api_key.as_str()),
            Some(mine.token.as_str()),
        ),
    ];
    for (session, key, token) in refused {
        let (status, body) = session_messages(&app, session, "", key, token).await;
        assert_eq!(status, 401, "{session} {key:?} {token:?}: {body}");
        assert_error(&body, "UNAUTHORIZED");
        assert!(!body.to_string().contains(HOURS_ANSWER), "{body}");
        let response = open_stream(&app.address, session, key, token).await;
        let (status, body) = read(response).await;
        assert_eq!(status, 401, "stream {session} {key:?} {token:?}: {body}");
        assert_error(&body, "UNAUTHORIZED");
    }
    let (status, body) = session_messages(
        &app,
        "not-a-uuid",
        "",
        Some(&bot.api_key),
        Some(&mine.token),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
}

#[tokio::test]
async fn the_messages_are_paged_oldest_first() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let session = session_of(&app.say(&bot, "one").await);
    app.say_in(&bot, &session.id, "two").await;
    app.say_in(&bot, &session.id, "three").await;
    let key = Some(bot.api_key.as_str());
    let token = Some(session.token.as_str());

    let (status, page) = session_messages(&app, &session.id, "?limit=2&offset=2", key, token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 6);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["content"], "two");
    assert_eq!(items[0]["role"], "user");
    assert_eq!(items[1]["role"], "assistant");
    let (_, last) = session_messages(&app, &session.id, "?limit=2&offset=4", key, token).await;
    assert_eq!(last["items"][0]["content"], "three");
    let (status, body) = session_messages(&app, &session.id, "?limit=0", key, token).await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "VALIDATION_ERROR");
}

#[tokio::test]
async fn the_stream_delivers_every_message_committed_after_it_opened_in_its_session_only() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let hello = app.say(&bot, "Hello").await;
    let hello_too = app.say(&bot, "Hello too").await;
    let (mine, other) = (session_of(&hello), session_of(&hello_too));
    let mut before = known(&[&hello, &hello_too]);
    let mut events = stream(&app.address, &bot, &mine).await;
    let mut others = stream(&app.address, &bot, &other).await;

    let posted = workflow_says(&app.address, &bot, &mine.id, "A person will call you").await;
    let (id, message) = events.next_event_except(WAIT, &before).await;
    assert_eq!(message["content"], "A person will call you");
    assert_eq!(message["source"], "workflow");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["id"], posted["message_id"]);
    assert_eq!(id.as_deref(), posted["message_id"].as_str());

    // The end user's own next turn arrives too: the message, then the reply.
    let turn = app.say_in(&bot, &mine.id, HOURS_QUESTION).await;
    let (_, asked) = events.next_event_except(WAIT, &before).await;
    let (_, answered) = events.next_event_except(WAIT, &before).await;
    assert_eq!(asked["id"], turn["message_id"]);
    assert_eq!(
        (asked["content"].as_str(), asked["role"].as_str()),
        (Some(HOURS_QUESTION), Some("user"))
    );
    assert_eq!(answered["id"], turn["reply_message_id"]);
    assert_eq!(answered["content"], HOURS_ANSWER);
    // The other conversation's stream saw at most its own earlier messages.
    let own = known(&[&hello_too]);
    for (id, event) in others.events_for(Duration::from_millis(500)).await {
        assert!(id.is_some_and(|id| own.contains(&id)), "{event}");
    }

    // EventSource cannot send headers: the query carries both credentials.
    before.extend(known(&[&turn]));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = app.url(&format!(
        "/api/v1/chat/sessions/{}/stream?chatbot_key={}&session_token={}",
        mine.id, bot.api_key, mine.token
    ));
    let mut by_query = EventStream::new(client.get(url).send().await.unwrap());
    by_query
        .next_frame(WAIT)
        .await
        .expect("the connected comment");
    workflow_says(&app.address, &bot, &mine.id, "Still there?").await;
    assert_eq!(
        by_query.next_event_except(WAIT, &before).await.1["content"],
        "Still there?"
    );
    assert_eq!(
        events.next_event_except(WAIT, &before).await.1["content"],
        "Still there?"
    );
}

#[tokio::test]
async fn a_reconnecting_stream_first_gets_what_it_missed_after_last_event_id() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let first = app.say(&bot, HOURS_QUESTION).await;
    let session = session_of(&first);
    workflow_says(&app.address, &bot, &session.id, "Anything else?").await;

    let response = with_credentials(
        reqwest::Client::new()
            .get(app.url(&format!("/api/v1/chat/sessions/{}/stream", session.id))),
        Some(&bot.api_key),
        Some(&session.token),
    )
    .header("last-event-id", first["message_id"].as_str().unwrap())
    .send()
    .await
    .unwrap();
    let mut events = EventStream::new(response);
    // The message named by Last-Event-ID is not sent again (its live announcement aside).
    let asked = vec![first["message_id"].as_str().unwrap().to_string()];
    let (_, reply) = events.next_event_except(WAIT, &asked).await;
    assert_eq!(reply["content"], HOURS_ANSWER);
    let (_, later) = events.next_event_except(WAIT, &asked).await;
    assert_eq!(later["content"], "Anything else?");
    // Replayed messages whose announcement arrives afterwards are sent once.
    for (id, event) in events.events_for(Duration::from_millis(300)).await {
        assert!(
            id.is_some_and(|id| asked.contains(&id)),
            "sent twice: {event}"
        );
    }
}

#[tokio::test]
async fn open_streams_end_when_chat_stops() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let session = session_of(&app.say(&bot, "Hello").await);
    let mut events = stream(&app.address, &bot, &session).await;
    drop(app);
    let ended = tokio::time::timeout(WAIT, async {
        while events.next_frame(WAIT).await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream stayed open after chat stopped");
}

/// One chat replica on `database_url` and its own RabbitMQ connection, until `shutdown`.
async fn replica(database_url: String, vhost: &TestVhost, shutdown: CancellationToken) -> String {
    let settings = Settings::load(&[
        ("server.host", "127.0.0.1".into()),
        ("server.port", "0".into()),
        ("database.url", database_url),
        ("auth.jwt_secret", crate::helpers::JWT_SECRET.into()),
        ("auth.internal_token", INTERNAL_TOKEN.into()),
        ("telemetry.otlp_endpoint", String::new()),
        ("chat.provider_base_url", String::new()),
    ])
    .unwrap();
    let bus: SharedBus = Arc::new(RabbitBus::connect(&vhost.url()).await.unwrap());
    let app = Application::build(settings, bus).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(shutdown));
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_committed_by_one_replica_reaches_a_stream_open_on_another() {
    let pg = PgDatabase::new("chat_replicas").await;
    let vhost = TestVhost::create();
    let shutdown = CancellationToken::new();
    let a = replica(pg.url(), &vhost, shutdown.clone()).await;
    let b = replica(pg.url(), &vhost, shutdown.clone()).await;
    // The chatbot is created on A by its owner (the test app only mints the token).
    let owner = spawn_app().await;
    let (status, created) = read(
        owner
            .client
            .post(format!("{a}/api/v1/chatbots"))
            .bearer_auth(&owner.token)
            .json(&json!({"name": "Replicated"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let bot = Chatbot {
        id: created["id"].as_str().unwrap().to_string(),
        api_key: created["api_key"].as_str().unwrap().to_string(),
        body: created,
    };
    let (status, answer) = read(
        owner
            .client
            .post(format!("{a}/api/v1/chat"))
            .header(KEY_HEADER, &bot.api_key)
            .json(&json!({"chatbot_id": bot.id, "message": "Hello"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let session = session_of(&answer);

    // The token A issued opens the stream on B; the message A commits arrives there.
    let mut on_b = stream(&b, &bot, &session).await;
    workflow_says(&a, &bot, &session.id, "From replica A").await;
    let (_, message) = on_b.next_event_except(WAIT, &known(&[&answer])).await;
    assert_eq!(message["content"], "From replica A");
    assert_eq!(message["source"], "workflow");
    shutdown.cancel();
    drop(on_b);
    vhost.delete();
}

#[tokio::test]
async fn a_page_on_an_origin_the_chatbot_does_not_allow_reads_nothing() {
    let app = spawn_app().await;
    let bot = app
        .faq_bot_with(json!({"name": "Shop bot", "settings": {"allowed_origins": ["https://shop.example.com"]}}))
        .await;
    let session = session_of(&app.say(&bot, HOURS_QUESTION).await);
    let path = |what: &str| app.url(&format!("/api/v1/chat/sessions/{}/{what}", session.id));
    for what in ["messages", "stream"] {
        let request = with_credentials(
            app.client.get(path(what)),
            Some(&bot.api_key),
            Some(&session.token),
        );
        let (status, body) = read(
            request
                .header("origin", "https://evil.example.com")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_error(&body, "ORIGIN_NOT_ALLOWED");
    }
    let request = with_credentials(
        app.client.get(path("messages")),
        Some(&bot.api_key),
        Some(&session.token),
    );
    let response = request
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://shop.example.com")
    );
    let (status, list) = read(response).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
}
