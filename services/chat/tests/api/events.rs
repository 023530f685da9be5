//! Run with: cargo test -p echoflow-chat --test api

use serde_json::{Value, json};

use crate::helpers::{ANGRY, spawn_app, types};
use crate::intents::REFUND_EXAMPLES;

/// Asserts the CloudEvent envelope and the data every conversation event carries.
fn assert_conversation_event(
    event: &Value,
    owner: &str,
    bot_id: &str,
    answer: &Value,
    text: &str,
    email: Value,
) {
    assert_eq!(event["specversion"], "1.0", "{event}");
    assert_eq!(event["source"], "/chat");
    assert_eq!(event["datacontenttype"], "application/json");
    assert!(event["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        event["time"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{event}"
    );
    assert_eq!(event["chatbotid"], bot_id, "{event}");
    assert_eq!(event["userid"], owner, "{event}");
    assert_eq!(event["subject"], answer["session_id"], "{event}");
    let data = &event["data"];
    assert_eq!(data["chatbot_id"], bot_id, "{event}");
    assert_eq!(data["session_id"], answer["session_id"], "{event}");
    assert_eq!(data["message_id"], answer["message_id"], "{event}");
    assert_eq!(data["user_email"], email, "{event}");
    assert_eq!(data["text"], text, "{event}");
}

#[tokio::test]
async fn a_first_message_starts_a_conversation_and_announces_what_was_found() {
    let app = spawn_app().await;
    let mut events = app.events();
    let bot = app.faq_bot().await;
    app.add_intent(&bot, "refund", &REFUND_EXAMPLES).await;
    let text = "I want a refund for my order";

    let answer = app
        .say_with(&bot, json!({"message": text, "user_email": "Ann@Example.com", "image_url": "https://img.example.com/a.png"}))
        .await;
    let got = events.take(4).await;

    assert_eq!(
        types(&got),
        [
            "conversation.started",
            "message.received",
            "sentiment.analyzed",
            "intent.detected"
        ]
    );
    let owner = app.user_id.to_string();
    for event in &got {
        assert_conversation_event(
            event,
            &owner,
            &bot.id,
            &answer,
            text,
            json!("ann@example.com"),
        );
    }
    let received = &got[1]["data"];
    assert_eq!(received["sentiment"], answer["sentiment"]);
    assert_eq!(received["intent"], answer["intent"]);
    assert_eq!(received["image_url"], "https://img.example.com/a.png");
    let sentiment = &got[2]["data"];
    assert_eq!(sentiment["score"], answer["sentiment"]["score"]);
    assert_eq!(sentiment["label"], answer["sentiment"]["label"]);
    let intent = &got[3]["data"];
    assert_eq!(intent["intent"], "refund");
    assert_eq!(intent["confidence"], answer["intent"]["confidence"]);
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "event ids must be unique");
    events.assert_none().await;
}

#[tokio::test]
async fn a_later_message_does_not_start_the_conversation_again() {
    let app = spawn_app().await;
    let mut events = app.events();
    let bot = app.faq_bot().await;
    let first = app.say(&bot, "When are you open on Saturday?").await;
    let started = events.take(3).await;
    assert_eq!(
        types(&started),
        [
            "conversation.started",
            "message.received",
            "sentiment.analyzed"
        ]
    );
    assert_eq!(started[1]["data"]["intent"], Value::Null);
    assert_eq!(started[1]["data"]["user_email"], Value::Null);

    let second = app
        .say_in(&bot, first["session_id"].as_str().unwrap(), ANGRY)
        .await;
    let got = events.take(2).await;

    assert_eq!(types(&got), ["message.received", "sentiment.analyzed"]);
    let owner = app.user_id.to_string();
    for event in &got {
        assert_conversation_event(event, &owner, &bot.id, &second, ANGRY, Value::Null);
    }
    assert!(
        got[1]["data"]["score"].as_f64().unwrap() <= -0.5,
        "{}",
        got[1]
    );
    assert_eq!(got[1]["data"]["label"], "negative");
    events.assert_none().await;
}
