//! Run with: cargo test -p echoflow-chat --test api

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{INTERNAL_TOKEN, assert_error, assert_invalid, spawn_app};

const TOKEN: Option<&str> = Some(INTERNAL_TOKEN);

#[tokio::test]
async fn the_registry_learns_who_owns_a_chatbot() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let path = format!("/internal/chatbots/{}", bot.id);

    let (status, owner) = app.internal_get(TOKEN, &path).await;
    assert_eq!(status, 200, "{owner}");
    assert_eq!(owner["id"], bot.id);
    assert_eq!(owner["owner_id"], app.user_id.to_string());
    assert_eq!(owner["name"], "Shop bot");

    let (status, body) = app
        .internal_get(TOKEN, &format!("/internal/chatbots/{}", Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    assert_error(&body, "NOT_FOUND");
}

#[tokio::test]
async fn internal_calls_without_the_service_token_are_refused() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let answer = app.say(&bot, "Hello").await;
    let session = answer["session_id"].as_str().unwrap();
    let (_, user_token) = app.other_user();

    for token in [None, Some("wrong-token"), Some(user_token.as_str())] {
        let (status, body) = app
            .internal_get(token, &format!("/internal/chatbots/{}", bot.id))
            .await;
        // The platform answers a missing service token with 403 (service-kit's
        // InternalCaller), as the executor's internal API does.
        assert_eq!(status, 403, "{token:?}: {body}");
        assert_error(&body, "FORBIDDEN");
        let (status, _) = app
            .internal_post(
                token,
                &format!("/internal/conversations/{session}/messages"),
                &json!({"chatbot_id": bot.id, "text": "Injected"}),
            )
            .await;
        assert_eq!(status, 403);
        let (status, _) = app
            .internal_post(
                token,
                &format!("/internal/conversations/{session}/tags"),
                &json!({"chatbot_id": bot.id, "tag": "injected"}),
            )
            .await;
        assert_eq!(status, 403);
    }

    let history = app.messages(session).await;
    assert_eq!(history["total"], 2);
    assert_eq!(history["tags"], json!([]));
}

#[tokio::test]
async fn a_workflow_message_is_posted_once_per_idempotency_key() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let answer = app.say(&bot, "This is awful, I am very angry").await;
    let session = answer["session_id"].as_str().unwrap();
    let path = format!("/internal/conversations/{session}/messages");
    let body = json!({"chatbot_id": bot.id, "text": "A person will call you", "idempotency_key": "exec-1:send"});

    let (status, posted) = app.internal_post(TOKEN, &path, &body).await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["session_id"], session);
    assert_eq!(posted["created"], true);
    let message_id = posted["message_id"].as_str().unwrap();

    let (status, again) = app.internal_post(TOKEN, &path, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["message_id"], message_id);
    assert_eq!(again["created"], false);

    let history = app.messages(session).await;
    assert_eq!(history["total"], 3, "{history}");
    let workflow: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "workflow")
        .collect();
    assert_eq!(workflow.len(), 1, "{history}");
    assert_eq!(workflow[0]["id"], message_id);
    assert_eq!(workflow[0]["role"], "assistant");
    assert_eq!(workflow[0]["content"], "A person will call you");
    assert_eq!(
        history["items"][2]["id"], message_id,
        "the workflow message comes last"
    );
    let list = app.conversations(&bot, "").await;
    assert_eq!(list["items"][0]["message_count"], 3);

    // Without a key every post is a new message.
    let plain = json!({"chatbot_id": bot.id, "text": "Still there?"});
    let (status, _) = app.internal_post(TOKEN, &path, &plain).await;
    assert_eq!(status, 201);
    let (status, _) = app.internal_post(TOKEN, &path, &plain).await;
    assert_eq!(status, 201);
    assert_eq!(app.messages(session).await["total"], 5);
}

#[tokio::test]
async fn a_workflow_acts_only_on_its_own_chatbots_conversations() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let other_bot = app.faq_bot().await;
    let answer = app.say(&bot, "Hello").await;
    let session = answer["session_id"].as_str().unwrap();

    for (session, chatbot_id) in [
        (session.to_string(), other_bot.id.clone()),
        (session.to_string(), Uuid::new_v4().to_string()),
        (Uuid::new_v4().to_string(), bot.id.clone()),
    ] {
        let (status, body) = app
            .internal_post(
                TOKEN,
                &format!("/internal/conversations/{session}/messages"),
                &json!({"chatbot_id": chatbot_id, "text": "Injected", "idempotency_key": Uuid::new_v4()}),
            )
            .await;
        assert_eq!(status, 404, "{body}");
        assert_error(&body, "NOT_FOUND");
        let (status, body) = app
            .internal_post(
                TOKEN,
                &format!("/internal/conversations/{session}/tags"),
                &json!({"chatbot_id": chatbot_id, "tag": "injected"}),
            )
            .await;
        assert_eq!(status, 404, "{body}");
    }

    let history = app.messages(session).await;
    assert_eq!(history["total"], 2);
    assert_eq!(history["tags"], json!([]));
}

#[tokio::test]
async fn invalid_internal_bodies_are_422() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let session = app.say(&bot, "Hello").await["session_id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, body) = app
        .internal_post(
            TOKEN,
            &format!("/internal/conversations/{session}/messages"),
            &json!({"chatbot_id": bot.id, "text": "  "}),
        )
        .await;
    assert_invalid(status, &body, "text");
    let (status, body) = app
        .internal_post(
            TOKEN,
            &format!("/internal/conversations/{session}/tags"),
            &json!({"chatbot_id": bot.id, "tag": ""}),
        )
        .await;
    assert_invalid(status, &body, "tag");
    assert_eq!(app.messages(&session).await["total"], 2);
}

#[tokio::test]
async fn tagging_is_idempotent_and_shows_in_the_history() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let answer = app.say(&bot, "This is awful, I am very angry").await;
    let session = answer["session_id"].as_str().unwrap();
    let message_id = answer["message_id"].as_str().unwrap();
    let path = format!("/internal/conversations/{session}/tags");
    let body = json!({"chatbot_id": bot.id, "tag": "escalate", "message_id": message_id});

    let (status, tagged) = app.internal_post(TOKEN, &path, &body).await;
    assert_eq!(status, 200, "{tagged}");
    assert_eq!(tagged["session_id"], session);
    assert_eq!(tagged["tags"], json!(["escalate"]));
    let (status, again) = app.internal_post(TOKEN, &path, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["tags"], json!(["escalate"]));
    let (_, both) = app
        .internal_post(TOKEN, &path, &json!({"chatbot_id": bot.id, "tag": "vip"}))
        .await;
    assert_eq!(both["tags"], json!(["escalate", "vip"]));

    let history = app.messages(session).await;
    assert_eq!(history["tags"], json!(["escalate", "vip"]));
    let items = history["items"].as_array().unwrap();
    assert_eq!(items[0]["id"], message_id);
    assert_eq!(items[0]["tags"], json!(["escalate"]));
    assert_eq!(items[1]["tags"], json!([]));
    let list = app.conversations(&bot, "").await;
    assert_eq!(list["items"][0]["tags"], json!(["escalate", "vip"]));

    // A message of another conversation does not carry this conversation's tag.
    let elsewhere = app.say(&bot, "Hello again").await;
    let foreign_message = elsewhere["message_id"].as_str().unwrap();
    let (status, _) = app
        .internal_post(
            TOKEN,
            &path,
            &json!({"chatbot_id": bot.id, "tag": "misplaced", "message_id": foreign_message}),
        )
        .await;
    assert_eq!(status, 200);
    let history = app.messages(session).await;
    assert_eq!(history["tags"], json!(["escalate", "vip", "misplaced"]));
    let other = app
        .messages(elsewhere["session_id"].as_str().unwrap())
        .await;
    assert!(
        other["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["tags"] == json!([])),
        "{other}"
    );
}

#[tokio::test]
async fn an_idempotency_key_never_answers_with_another_conversations_message() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let (_, other) = app.other_user();
    let theirs = app.chatbot_of(&other, json!({"name": "Theirs"})).await;
    let mine = app.say(&bot, "Hello").await;
    let their_session = app.say(&theirs, "Hello").await;
    let mine_id = mine["session_id"].as_str().unwrap();
    let their_id = their_session["session_id"].as_str().unwrap();
    let (status, first) = app
        .internal_post(
            TOKEN,
            &format!("/internal/conversations/{their_id}/messages"),
            &json!({"chatbot_id": theirs.id, "text": "For them", "idempotency_key": "same-key"}),
        )
        .await;
    assert_eq!(status, 201, "{first}");

    let (status, answer) = app
        .internal_post(
            TOKEN,
            &format!("/internal/conversations/{mine_id}/messages"),
            &json!({"chatbot_id": bot.id, "text": "For me", "idempotency_key": "same-key"}),
        )
        .await;

    assert_ne!(
        answer["session_id"], their_id,
        "another chatbot's conversation leaked: {answer}"
    );
    assert_ne!(answer["message_id"], first["message_id"], "{answer}");
    assert_eq!(status, 409, "{answer}");
    assert_error(&answer, "CONFLICT");
    assert_eq!(app.messages(mine_id).await["total"], 2);
    let theirs_history = app
        .get_as(
            &other,
            &format!("/api/v1/conversations/{their_id}/messages"),
        )
        .await
        .1;
    assert_eq!(theirs_history["total"], 3, "{theirs_history}");
}
