//! Run with: cargo test -p echoflow-chat --test api lifecycle
//!
//! Deleting a chatbot and erasing an end user: what chat deletes at once,
//! and the lifecycle event it announces for the other services (read from
//! the executor's queue, which only these events reach).

use echoflow_bus::topology::EXECUTOR_CHATBOT_EVENTS;
use echoflow_test_support::events::{Deliveries, consume};
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{Chatbot, TestApp, assert_error, spawn_app, spawn_app_on_postgres};

fn refused(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_error(body, code);
}

async fn next_event(events: &mut Deliveries) -> Value {
    let delivery = events.next_within(Duration::from_secs(10)).await;
    serde_json::from_slice(&delivery.body).unwrap()
}

async fn say_as(app: &TestApp, bot: &Chatbot, email: Option<&str>, message: &str) -> String {
    let mut body = json!({"message": message});
    if let Some(email) = email {
        body["user_email"] = json!(email);
    }
    let answer = app.say_with(bot, body).await;
    answer["session_id"].as_str().unwrap().to_string()
}

async fn deleting_a_chatbot_deletes_its_conversations_and_announces_it(app: TestApp) {
    let mut events = consume(&app.bus, EXECUTOR_CHATBOT_EVENTS);
    let bot = app.faq_bot().await;
    let kept = app.faq_bot().await;
    let session = say_as(&app, &bot, Some("ann@example.com"), "hello").await;
    let other = say_as(&app, &kept, Some("ann@example.com"), "hello").await;

    let (status, body) = app
        .delete_as(&app.token, &format!("/api/v1/chatbots/{}", bot.id))
        .await;
    assert_eq!(status, 204, "{body}");

    let event = next_event(&mut events).await;
    assert_eq!(event["type"], "chatbot.deleted", "{event}");
    assert_eq!(event["source"], "/chat");
    assert_eq!(event["chatbotid"], bot.id.as_str());
    assert_eq!(event["userid"], app.user_id.to_string());
    assert_eq!(event["data"]["chatbot_id"], bot.id.as_str());
    let (status, body) = app
        .get_as(
            &app.token,
            &format!("/api/v1/conversations/{session}/messages"),
        )
        .await;
    refused(status, &body, 404, "NOT_FOUND");
    let (status, body) = app.conversations_as(&app.token, &bot.id, "").await;
    refused(status, &body, 404, "NOT_FOUND");
    // The widget key of the deleted chatbot opens nothing any more.
    let (status, _) = app
        .chat(
            Some(&bot.api_key),
            &json!({"chatbot_id": bot.id, "message": "hi"}),
        )
        .await;
    assert_eq!(status, 401);
    // The owner's other chatbot keeps its conversation.
    assert_eq!(
        app.messages(&other).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A repeat finds nothing and announces nothing.
    let (status, body) = app
        .delete_as(&app.token, &format!("/api/v1/chatbots/{}", bot.id))
        .await;
    refused(status, &body, 404, "NOT_FOUND");
    assert!(
        events
            .try_next_within(Duration::from_millis(600))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn deleting_a_chatbot_deletes_its_conversations_and_announces_it_on_sqlite() {
    deleting_a_chatbot_deletes_its_conversations_and_announces_it(spawn_app().await).await;
}

#[tokio::test]
async fn deleting_a_chatbot_deletes_its_conversations_and_announces_it_on_postgres() {
    deleting_a_chatbot_deletes_its_conversations_and_announces_it(spawn_app_on_postgres().await)
        .await;
}

async fn erasing_an_end_user_deletes_their_conversations_and_no_one_elses(app: TestApp) {
    let mut events = consume(&app.bus, EXECUTOR_CHATBOT_EVENTS);
    let bot = app.faq_bot().await;
    let first = say_as(&app, &bot, Some("Ann@Example.com"), "hello").await;
    app.say_in(&bot, &first, "What are your opening hours?")
        .await;
    // An anonymous conversation in which she gives her email later is hers too.
    let anonymous = say_as(&app, &bot, None, "hi there").await;
    app.say_with(
        &bot,
        json!({"message": "it's me", "session_id": anonymous, "user_email": "ann@example.com"}),
    )
    .await;
    let bobs = say_as(&app, &bot, Some("bob@example.com"), "hello").await;
    let path = format!("/api/v1/chatbots/{}/end-users/ANN%40example.com", bot.id);

    let (status, _) = app.other_user_erases(&path).await;
    assert_eq!(status, 404, "another owner cannot erase");
    let (status, erased) = app.delete_as(&app.token, &path).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["chatbot_id"], bot.id.as_str());
    assert_eq!(erased["email"], "ann@example.com");
    assert_eq!(erased["chat"]["conversations"], 2, "{erased}");
    // 2 turns in the first (4 messages), 2 in the anonymous one (4).
    assert_eq!(erased["chat"]["messages"], 8, "{erased}");
    assert_eq!(erased["chat"]["end_user"], true);

    let event = next_event(&mut events).await;
    assert_eq!(event["type"], "chatbot.end_user_erased", "{event}");
    assert_eq!(event["id"], erased["event_id"]);
    assert_eq!(event["chatbotid"], bot.id.as_str());
    assert_eq!(event["userid"], app.user_id.to_string());
    assert_eq!(event["data"]["email"], "ann@example.com");
    let mut sessions: Vec<&str> = event["data"]["session_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    sessions.sort_unstable();
    let mut expected = vec![first.as_str(), anonymous.as_str()];
    expected.sort_unstable();
    assert_eq!(sessions, expected);

    for gone in [&first, &anonymous] {
        let (status, body) = app
            .get_as(
                &app.token,
                &format!("/api/v1/conversations/{gone}/messages"),
            )
            .await;
        refused(status, &body, 404, "NOT_FOUND");
    }
    let left = app.conversations(&bot, "").await;
    assert_eq!(left["total"], 1, "{left}");
    assert_eq!(left["items"][0]["id"], bobs.as_str());
    assert_eq!(
        app.messages(&bobs).await["items"].as_array().unwrap().len(),
        2
    );

    // Idempotent: a repeat erases nothing more, and is announced again.
    let (status, again) = app.delete_as(&app.token, &path).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["chat"],
        json!({"conversations": 0, "messages": 0, "tags": 0, "end_user": false})
    );
    assert_eq!(
        next_event(&mut events).await["type"],
        "chatbot.end_user_erased"
    );

    let (status, body) = app
        .delete_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/end-users/not-an-email", bot.id),
        )
        .await;
    refused(status, &body, 422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn erasing_an_end_user_deletes_their_conversations_and_no_one_elses_on_sqlite() {
    erasing_an_end_user_deletes_their_conversations_and_no_one_elses(spawn_app().await).await;
}

#[tokio::test]
async fn erasing_an_end_user_deletes_their_conversations_and_no_one_elses_on_postgres() {
    erasing_an_end_user_deletes_their_conversations_and_no_one_elses(spawn_app_on_postgres().await)
        .await;
}

impl TestApp {
    async fn other_user_erases(&self, path: &str) -> (u16, Value) {
        let (_, token) = self.other_user();
        self.delete_as(&token, path).await
    }
}
