//! Run with: cargo test -p echoflow-chat --test api

use serde_json::{Value, json};

use crate::helpers::{assert_error, assert_invalid, spawn_app};

pub const REFUND_EXAMPLES: [&str; 3] = [
    "I want a refund",
    "Can I get my money back?",
    "Please refund my order",
];

#[tokio::test]
async fn intents_are_listed_created_and_deleted() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let base = format!("/api/v1/chatbots/{}/intents", bot.id);

    let (status, refund) = app
        .post_as(
            &app.token,
            &base,
            &json!({"name": "refund", "examples": REFUND_EXAMPLES}),
        )
        .await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(refund["name"], "refund");
    assert_eq!(refund["chatbot_id"], bot.id);
    assert_eq!(refund["examples"], json!(REFUND_EXAMPLES));
    app.add_intent(
        &bot,
        "delivery.status",
        &["Where is my parcel?", "Track my delivery"],
    )
    .await;

    let (status, list) = app.get_as(&app.token, &base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["delivery.status", "refund"]);

    let answer = app.say(&bot, "I want a refund for my order").await;
    assert_eq!(answer["intent"]["name"], "refund", "{answer}");

    let refund_id = refund["id"].as_str().unwrap();
    let (status, _) = app
        .delete_as(&app.token, &format!("{base}/{refund_id}"))
        .await;
    assert_eq!(status, 204);
    let (_, list) = app.get_as(&app.token, &base).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["name"], "delivery.status");
    let answer = app.say(&bot, "I want a refund for my order").await;
    assert_eq!(answer["intent"], Value::Null, "{answer}");

    let (status, body) = app
        .delete_as(&app.token, &format!("{base}/{refund_id}"))
        .await;
    assert_eq!(status, 404);
    assert_error(&body, "NOT_FOUND");
}

#[tokio::test]
async fn a_duplicate_intent_name_is_409() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let other = app.chatbot_with(json!({"name": "Other bot"})).await;
    app.add_intent(&bot, "refund", &REFUND_EXAMPLES).await;

    let (status, body) = app
        .post_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/intents", bot.id),
            &json!({"name": "refund", "examples": ["money back"]}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "CONFLICT");

    // The name is unique per chatbot only.
    app.add_intent(&other, "refund", &REFUND_EXAMPLES).await;
    let (_, list) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}/intents", bot.id))
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["examples"], json!(REFUND_EXAMPLES));
}

#[tokio::test]
async fn invalid_intents_are_422_and_not_stored() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let base = format!("/api/v1/chatbots/{}/intents", bot.id);

    let cases = [
        (
            json!({"name": "money back", "examples": ["refund"]}),
            "name",
        ),
        (json!({"name": "refund!", "examples": ["refund"]}), "name"),
        (json!({"name": "", "examples": ["refund"]}), "name"),
        (json!({"name": "refund", "examples": []}), "examples"),
        (
            json!({"name": "refund", "examples": ["ok", "   "]}),
            "examples[1]",
        ),
    ];
    for (body, path) in cases {
        let (status, answer) = app.post_as(&app.token, &base, &body).await;
        assert_invalid(status, &answer, path);
    }

    let (_, list) = app.get_as(&app.token, &base).await;
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn another_users_intent_cannot_be_deleted() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let other_bot = app.chatbot_with(json!({"name": "Other"})).await;
    let intent = app.add_intent(&bot, "refund", &REFUND_EXAMPLES).await;
    let intent_id = intent["id"].as_str().unwrap();
    let (_, stranger) = app.other_user();

    let (status, _) = app
        .delete_as(
            &stranger,
            &format!("/api/v1/chatbots/{}/intents/{intent_id}", bot.id),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .delete_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/intents/{intent_id}", other_bot.id),
        )
        .await;
    assert_eq!(status, 404);

    let (_, list) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}/intents", bot.id))
        .await;
    assert_eq!(list["total"], 1);
}
