//! Run with: cargo test -p echoflow-chat --test api

use serde_json::json;

use crate::helpers::{
    DEFAULT_FALLBACK, HOURS_ANSWER, HOURS_QUESTION, assert_error, assert_invalid, spawn_app,
};

#[tokio::test]
async fn faqs_are_created_listed_changed_and_removed_and_answers_follow() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let base = format!("/api/v1/chatbots/{}/faqs", bot.id);

    let (status, faq) = app
        .post_as(
            &app.token,
            &base,
            &json!({"question": HOURS_QUESTION, "answer": HOURS_ANSWER, "category": "store"}),
        )
        .await;
    assert_eq!(status, 201, "{faq}");
    assert_eq!(faq["chatbot_id"], bot.id);
    assert_eq!(faq["question"], HOURS_QUESTION);
    assert_eq!(faq["answer"], HOURS_ANSWER);
    assert_eq!(faq["category"], "store");
    let faq_id = faq["id"].as_str().unwrap();
    app.add_faq(&bot, "Do you ship abroad?", "We ship to every EU country.")
        .await;

    let (status, list) = app.get_as(&app.token, &base).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["id"], faq_id);
    assert_eq!(list["items"][1]["question"], "Do you ship abroad?");

    let answer = app.say(&bot, "When are you open on Saturday?").await;
    assert_eq!(answer["reply"], HOURS_ANSWER);

    // The changed answer no longer mentions Saturday, so ask the question itself.
    let changed = "We are open every day, 8am to 8pm.";
    let (status, updated) = app
        .put_as(
            &app.token,
            &format!("{base}/{faq_id}"),
            &json!({"question": HOURS_QUESTION, "answer": changed}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["answer"], changed);
    assert_eq!(updated["category"], serde_json::Value::Null);
    let answer = app.say(&bot, HOURS_QUESTION).await;
    assert_eq!(answer["reply"], changed);

    let (status, _) = app.delete_as(&app.token, &format!("{base}/{faq_id}")).await;
    assert_eq!(status, 204);
    let (_, list) = app.get_as(&app.token, &base).await;
    assert_eq!(list["total"], 1);
    let answer = app.say(&bot, HOURS_QUESTION).await;
    assert_eq!(answer["reply"], DEFAULT_FALLBACK);
    assert_eq!(answer["reply_source"], "fallback");

    let (status, body) = app.delete_as(&app.token, &format!("{base}/{faq_id}")).await;
    assert_eq!(status, 404);
    assert_error(&body, "NOT_FOUND");
}

#[tokio::test]
async fn invalid_faqs_are_422_and_not_stored() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let base = format!("/api/v1/chatbots/{}/faqs", bot.id);

    let (status, body) = app
        .post_as(&app.token, &base, &json!({"question": "  ", "answer": "a"}))
        .await;
    assert_invalid(status, &body, "question");
    let (status, body) = app
        .post_as(&app.token, &base, &json!({"question": "q?", "answer": ""}))
        .await;
    assert_invalid(status, &body, "answer");
    let (status, body) = app
        .post_as(
            &app.token,
            &base,
            &json!({"question": "q?", "answer": "a", "category": "x".repeat(101)}),
        )
        .await;
    assert_invalid(status, &body, "category");

    let (_, list) = app.get_as(&app.token, &base).await;
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn an_faq_is_reached_only_through_its_own_chatbot() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let other_bot = app.chatbot_with(json!({"name": "Other"})).await;
    let (_, list) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}/faqs", bot.id))
        .await;
    let faq_id = list["items"][0]["id"].as_str().unwrap().to_string();
    let (_, stranger) = app.other_user();
    let body = json!({"question": "Hijacked?", "answer": "Yes."});

    let wrong_bot = format!("/api/v1/chatbots/{}/faqs/{faq_id}", other_bot.id);
    let right_path = format!("/api/v1/chatbots/{}/faqs/{faq_id}", bot.id);
    for (status, body) in [
        app.put_as(&app.token, &wrong_bot, &body).await,
        app.delete_as(&app.token, &wrong_bot).await,
        app.put_as(&stranger, &right_path, &body).await,
        app.delete_as(&stranger, &right_path).await,
    ] {
        assert_eq!(status, 404, "{body}");
        assert_error(&body, "NOT_FOUND");
    }

    let (_, list) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}/faqs", bot.id))
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["question"], HOURS_QUESTION);
}
