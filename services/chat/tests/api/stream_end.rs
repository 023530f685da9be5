//! Run with: cargo test -p echoflow-chat --test api stream_end
//!
//! A session stream does not outlive what proved it: it ends within seconds
//! of its chatbot's key being rotated, of the chatbot being deleted and of
//! its end user being erased. And a replica holds at most
//! `session_stream.max_open` streams (503 with `Retry-After` beyond).

use std::time::Duration;

use echoflow_test_support::sse::{EventStream, Frame};
use serde_json::{Value, json};

use crate::helpers::{
    Chatbot, INTERNAL_TOKEN, KEY_HEADER, SESSION_TOKEN_HEADER, TestApp, assert_error, read,
    spawn_app, spawn_app_with,
};

/// `session_stream.recheck_secs` is 2 by default: a few seconds more, for a slow CI.
const ENDS_WITHIN: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(5);

struct Session {
    id: String,
    token: String,
    /// Its messages so far, whose announcements may still reach a stream opened after them.
    known: Vec<String>,
}

fn session_of(answer: &Value) -> Session {
    Session {
        id: answer["session_id"].as_str().unwrap().to_string(),
        token: answer["session_token"].as_str().unwrap().to_string(),
        known: [&answer["message_id"], &answer["reply_message_id"]]
            .iter()
            .map(|id| id.as_str().unwrap().to_string())
            .collect(),
    }
}

/// A widget's page: any origin may use these chatbots.
const PAGE: &str = "https://shop.example.com";

async fn open(app: &TestApp, bot: &Chatbot, session: &Session) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/chat/sessions/{}/stream", session.id)))
        .header(KEY_HEADER, &bot.api_key)
        .header(SESSION_TOKEN_HEADER, &session.token)
        .header("origin", PAGE)
        .send()
        .await
        .unwrap()
}

/// A conversation of `email` (or an anonymous one) and its stream, open.
async fn watched(app: &TestApp, bot: &Chatbot, email: Option<&str>) -> (Session, EventStream) {
    let mut body = json!({"message": "hello"});
    if let Some(email) = email {
        body["user_email"] = json!(email);
    }
    let session = session_of(&app.say_with(bot, body).await);
    let mut events = EventStream::new(open(app, bot, &session).await);
    assert_eq!(
        events.next_frame(WAIT).await,
        Some(Frame::Comment(": connected".into()))
    );
    (session, events)
}

/// Reads `events` until it ends; the comments it sent. Panics if it is still open after `within`.
async fn ends(events: &mut EventStream, within: Duration) -> Vec<String> {
    let mut comments = Vec::new();
    let read_all = async {
        while let Some(frame) = events.next_frame(within).await {
            if let Frame::Comment(text) = frame {
                comments.push(text);
            }
        }
    };
    tokio::time::timeout(within, read_all)
        .await
        .expect("the stream is still open");
    comments
}

/// Whether `events` is still open after `window`: it sent a frame or nothing.
async fn still_open(events: &mut EventStream, window: Duration) -> bool {
    tokio::time::timeout(window, events.next_frame(window * 2))
        .await
        .map_or(true, |frame| frame.is_some())
}

fn closed_because_gone(comments: &[String]) {
    assert!(
        comments
            .iter()
            .any(|c| c.contains("no longer open to this stream")),
        "{comments:?}"
    );
}

#[tokio::test]
async fn a_stream_ends_when_its_chatbot_key_is_rotated() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let (session, mut events) = watched(&app, &bot, None).await;

    let (status, rotated) = app
        .post_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/api-key/rotate", bot.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");

    closed_because_gone(&ends(&mut events, ENDS_WITHIN).await);
    // Reconnecting with the old key: 401. With the new key, the same token streams again.
    let (status, body) = read(open(&app, &bot, &session).await).await;
    assert_eq!(status, 401, "{body}");
    let renewed = Chatbot {
        api_key: rotated["api_key"].as_str().unwrap().to_string(),
        ..bot
    };
    let mut again = EventStream::new(open(&app, &renewed, &session).await);
    assert!(again.next_frame(WAIT).await.is_some());
    assert!(still_open(&mut again, Duration::from_secs(4)).await);
}

#[tokio::test]
async fn a_stream_ends_when_its_chatbot_is_deleted() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let (_, mut events) = watched(&app, &bot, Some("ann@example.com")).await;

    let (status, body) = app
        .delete_as(&app.token, &format!("/api/v1/chatbots/{}", bot.id))
        .await;
    assert_eq!(status, 204, "{body}");

    closed_because_gone(&ends(&mut events, ENDS_WITHIN).await);
}

#[tokio::test]
async fn the_streams_of_an_erased_end_user_end_and_the_others_stay() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let (_, mut anns) = watched(&app, &bot, Some("ann@example.com")).await;
    let (bob, mut bobs) = watched(&app, &bot, Some("bob@example.com")).await;

    let (status, erased) = app
        .delete_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/end-users/ann%40example.com", bot.id),
        )
        .await;
    assert_eq!(status, 200, "{erased}");

    closed_because_gone(&ends(&mut anns, ENDS_WITHIN).await);
    // Bob's stream lived through the same rechecks and still delivers.
    let posted = workflow_says(&app, &bot, &bob.id, "Your parcel left today").await;
    let (id, message) = bobs.next_event_except(WAIT, &bob.known).await;
    assert_eq!(message["content"], "Your parcel left today", "{message}");
    assert_eq!(id.as_deref(), posted["message_id"].as_str());
}

#[tokio::test]
async fn a_replica_holds_at_most_max_open_streams_and_answers_503_beyond() {
    // A keep-alive every second: chat notices a client that left at its next write.
    let app = spawn_app_with(vec![
        ("session_stream.max_open", "2".into()),
        ("session_stream.keep_alive_secs", "1".into()),
    ])
    .await;
    let bot = app.faq_bot().await;
    let (_, first) = watched(&app, &bot, None).await;
    let (_, _second) = watched(&app, &bot, None).await;

    let answer = app.say(&bot, "hello").await;
    let third = session_of(&answer);
    let refused = open(&app, &bot, &third).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    // The widget's page can read why.
    assert_eq!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(PAGE)
    );
    let (_, body) = read(refused).await;
    let error = assert_error(&body, "SERVICE_UNAVAILABLE");
    assert_eq!(error["details"]["max_open"], 2, "{body}");

    // A stream that ends frees its place.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = open(&app, &bot, &third).await;
        if response.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no place freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a workflow's `action.send_message` does: posts through chat's internal route.
async fn workflow_says(app: &TestApp, bot: &Chatbot, session_id: &str, text: &str) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/internal/conversations/{session_id}/messages")))
        .header("x-echoflow-internal-token", INTERNAL_TOKEN)
        .json(&json!({"chatbot_id": bot.id, "text": text}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 201, "{body}");
    body
}
