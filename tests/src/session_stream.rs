//! The end user's side of a conversation, as a widget does it through the
//! gateway: a sentiment-triggered workflow's `action.send_message` arrives on
//! the session stream within 1 s of the step's commit, and another session's
//! token reads nothing of it; without its token the conversation cannot be
//! continued, and rotating the chatbot's key ends its streams. Both run
//! modes run it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use echoflow_test_support::api::{Api, Chatbot};
use echoflow_test_support::sse::EventStream;
use serde_json::{Value, json};

use crate::conversation::wait_executions;

pub const SORRY: &str = "We are sorry. A person will write to you here in a minute.";
const ANGRY: &str = "This is terrible! My order arrived broken and nobody answers. I am furious!";
const WAIT: Duration = Duration::from_secs(20);

/// What a widget holds of its conversation.
struct Session {
    id: String,
    token: String,
    /// Its first message and reply.
    opening: Vec<String>,
}

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

/// A negative message -> a message to that end user.
fn apology_workflow(chatbot_id: &str) -> Value {
    json!({
        "name": "apologise to angry customers",
        "chatbot_id": chatbot_id,
        "flow_definition": {
            "nodes": [
                node("angry", "trigger.sentiment", json!({"threshold": -0.5, "direction": "below"})),
                node("sorry", "action.send_message", json!({"text": SORRY})),
            ],
            "edges": [{"id": "e1", "source": "angry", "target": "sorry"}]
        }
    })
}

async fn open_session(api: &Api, bot: &Chatbot, message: &str) -> Session {
    let (status, answer) = api.chat(bot, json!({"message": message})).await;
    assert_eq!(status, 200, "{answer}");
    Session {
        id: answer["session_id"].as_str().unwrap().to_string(),
        token: answer["session_token"].as_str().unwrap().to_string(),
        opening: [&answer["message_id"], &answer["reply_message_id"]]
            .iter()
            .map(|id| id.as_str().unwrap().to_string())
            .collect(),
    }
}

fn stream_url(api: &Api, session_id: &str) -> String {
    format!("{}/api/v1/chat/sessions/{session_id}/stream", api.base)
}

/// A client without the API's 30 s timeout: a stream stays open.
fn stream_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The session stream with the credentials in headers, open (first frame read).
async fn stream_by_headers(api: &Api, bot: &Chatbot, session: &Session) -> EventStream {
    let response = stream_client()
        .get(stream_url(api, &session.id))
        .header("accept", "text/event-stream")
        .header("x-chatbot-key", &bot.api_key)
        .header("x-session-token", &session.token)
        .send()
        .await
        .unwrap();
    let mut events = EventStream::new(response);
    events
        .next_frame(WAIT)
        .await
        .expect("the connected comment");
    events
}

/// The session stream as `EventSource` opens it: the credentials in the query.
async fn stream_by_query(api: &Api, bot: &Chatbot, session: &Session) -> EventStream {
    let url = format!(
        "{}?chatbot_key={}&session_token={}",
        stream_url(api, &session.id),
        bot.api_key,
        session.token
    );
    let response = stream_client()
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = EventStream::new(response);
    events
        .next_frame(WAIT)
        .await
        .expect("the connected comment");
    events
}

/// When the workflow's `sorry` step finished (committed): its start plus its duration.
async fn step_finished_at(api: &Api, workflow_id: &str) -> DateTime<Utc> {
    let runs = wait_executions(api, workflow_id, 1).await;
    assert_eq!(runs.len(), 1, "one run for one angry message: {runs:?}");
    let execution = api.wait_finished(runs[0]["id"].as_str().unwrap()).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let step = execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node_id"] == "sorry")
        .unwrap_or_else(|| panic!("no sorry step: {execution}"))
        .clone();
    let started: DateTime<Utc> = step["started_at"].as_str().unwrap().parse().unwrap();
    started + chrono::Duration::milliseconds(step["duration_ms"].as_i64().unwrap())
}

/// The widget's journey; returns how long after the step's commit the message arrived.
pub async fn workflow_message_reaches_the_session_stream(api: &Api) -> chrono::Duration {
    let bot = api.create_chatbot("Support desk", json!({})).await;
    let (status, workflow) = api
        .post("/api/v1/workflows", &apology_workflow(&bot.id))
        .await;
    assert_eq!(status, 201, "{workflow}");
    let workflow_id = workflow["id"].as_str().unwrap().to_string();
    let mine = open_session(api, &bot, "Hello, where is my order?").await;
    let other = open_session(api, &bot, "Hello, do you ship abroad?").await;
    let mut events = stream_by_headers(api, &bot, &mine).await;
    let mut others = stream_by_query(api, &bot, &other).await;

    let (status, angry) = api
        .chat(&bot, json!({"message": ANGRY, "session_id": mine.id}))
        .await;
    assert_eq!(status, 200, "{angry}");
    assert_eq!(angry["sentiment"]["label"], "negative", "{angry}");
    // The end user's message and its reply come first, then the workflow's.
    let (arrived, sorry) = loop {
        let (_, message) = events.next_event(WAIT).await;
        if message["source"] == "workflow" {
            break (Utc::now(), message);
        }
        assert_ne!(message["content"], SORRY, "{message}");
    };
    assert_eq!(sorry["content"], SORRY, "{sorry}");
    assert_eq!(sorry["role"], "assistant");
    let committed = step_finished_at(api, &workflow_id).await;
    let latency = arrived - committed;
    println!(
        "session stream: the workflow's message arrived {} ms after its step's commit",
        latency.num_milliseconds()
    );
    assert!(
        latency < chrono::Duration::seconds(1),
        "the message arrived {latency} after the step committed"
    );

    // The other conversation's stream saw nothing of it; its token reads nothing of mine.
    // (at most its own opening, whose announcement may have been on its way when it opened).
    for (id, event) in others.events_for(Duration::from_millis(500)).await {
        assert!(id.is_some_and(|id| other.opening.contains(&id)), "{event}");
    }
    let client = stream_client();
    for path in ["messages", "stream"] {
        let response = client
            .get(format!(
                "{}/api/v1/chat/sessions/{}/{path}",
                api.base, mine.id
            ))
            .header("accept", "text/event-stream")
            .header("x-chatbot-key", &bot.api_key)
            .header("x-session-token", &other.token)
            .send()
            .await
            .unwrap();
        let (status, body) = echoflow_test_support::read(response).await;
        assert_eq!(status, 401, "{path}: {body}");
        echoflow_test_support::assert_error(&body, "UNAUTHORIZED");
        assert!(!body.to_string().contains(SORRY), "{body}");
    }
    // Its own token reads the whole conversation, the workflow's message included.
    let response = client
        .get(format!(
            "{}/api/v1/chat/sessions/{}/messages",
            api.base, mine.id
        ))
        .header("x-chatbot-key", &bot.api_key)
        .header("x-session-token", &mine.token)
        .send()
        .await
        .unwrap();
    let (status, history) = echoflow_test_support::read(response).await;
    assert_eq!(status, 200, "{history}");
    let contents: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.first(), Some(&"Hi! How can I help?"), "{history}");
    assert_eq!(contents.last(), Some(&SORRY), "{history}");
    assert!(contents.contains(&ANGRY), "{history}");

    refused_without_its_token(api, &bot, &mine).await;
    // Rotating the chatbot's key ends the open streams (through the gateway too).
    let (status, rotated) = api
        .post(
            &format!("/api/v1/chatbots/{}/api-key/rotate", bot.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while events.next_frame(WAIT).await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived the chatbot's key");
    latency
}

/// Continuing `session` by its id without its token, from a widget's page:
/// 401 naming the header, which the page can read; nothing is stored.
async fn refused_without_its_token(api: &Api, bot: &Chatbot, session: &Session) {
    let page = "https://shop.example.com";
    let response = api
        .client
        .post(format!("{}/api/v1/chat", api.base))
        .header("x-chatbot-key", &bot.api_key)
        .header("origin", page)
        .json(&json!({"chatbot_id": bot.id, "message": "What did they say?", "session_id": session.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(page)
    );
    let (status, body) = echoflow_test_support::read(response).await;
    assert_eq!(status, 401, "{body}");
    let error = echoflow_test_support::assert_error(&body, "UNAUTHORIZED");
    assert_eq!(error["details"]["header"], "X-Session-Token", "{body}");
    // With a wrong key, the page reads the refusal as well.
    let response = api
        .client
        .get(format!(
            "{}/api/v1/chat/sessions/{}/messages",
            api.base, session.id
        ))
        .header("x-chatbot-key", "ecb_not-a-key")
        .header("x-session-token", &session.token)
        .header("origin", page)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(page)
    );
}
