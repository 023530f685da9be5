//! Run with: cargo test -p echoflow-chat --test api

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    ANGRY, HOURS_ANSWER, INTERNAL_TOKEN, assert_error, assert_invalid, spawn_app,
};

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn conversations_are_listed_newest_first_and_filtered_by_email_with_tags() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let ann = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "ann@example.com"}),
        )
        .await;
    let bob = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "bob@example.com"}),
        )
        .await;
    let anonymous = app.say(&bot, "Hello").await;
    let ann_id = ann["session_id"].as_str().unwrap();
    let bob_id = bob["session_id"].as_str().unwrap();
    let anonymous_id = anonymous["session_id"].as_str().unwrap();

    let list = app.conversations(&bot, "").await;
    assert_eq!(list["total"], 3);
    assert_eq!(ids(&list), [anonymous_id, bob_id, ann_id]);

    // Ann writes again: her conversation is now the most recent.
    app.say_in(&bot, ann_id, ANGRY).await;
    let (status, _) = app
        .internal_post(
            Some(INTERNAL_TOKEN),
            &format!("/internal/conversations/{ann_id}/tags"),
            &json!({"chatbot_id": bot.id, "tag": "escalate"}),
        )
        .await;
    assert_eq!(status, 200);

    let list = app.conversations(&bot, "").await;
    assert_eq!(ids(&list), [ann_id, anonymous_id, bob_id]);
    assert_eq!(list["items"][0]["tags"], json!(["escalate"]));
    assert_eq!(list["items"][0]["message_count"], 4);
    assert_eq!(list["items"][0]["chatbot_id"], bot.id);
    assert_eq!(list["items"][1]["tags"], json!([]));
    assert_eq!(list["items"][1]["user_email"], Value::Null);

    let only_ann = app.conversations(&bot, "?user_email=ANN@example.com").await;
    assert_eq!(only_ann["total"], 1, "{only_ann}");
    assert_eq!(ids(&only_ann), [ann_id]);
    assert_eq!(only_ann["items"][0]["user_email"], "ann@example.com");
    assert_eq!(only_ann["items"][0]["tags"], json!(["escalate"]));
    let nobody = app
        .conversations(&bot, "?user_email=carol@example.com")
        .await;
    assert_eq!(nobody["total"], 0);
    let page = app.conversations(&bot, "?limit=1&offset=1").await;
    assert_eq!(page["total"], 3);
    assert_eq!(ids(&page), [anonymous_id]);

    let (status, body) = app
        .conversations_as(&app.token, &bot.id, "?user_email=not-an-email")
        .await;
    assert_invalid(status, &body, "user_email");
    // An empty filter is not "no filter": the contract says an email address.
    let (status, body) = app
        .conversations_as(&app.token, &bot.id, "?user_email=")
        .await;
    assert_invalid(status, &body, "user_email");
}

#[tokio::test]
async fn a_conversations_messages_show_sentiment_the_workflow_message_and_tags() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let first = app
        .say_with(
            &bot,
            json!({"message": "When are you open on Saturday?", "user_email": "ann@example.com"}),
        )
        .await;
    let session = first["session_id"].as_str().unwrap();
    let angry = app.say_in(&bot, session, ANGRY).await;
    let angry_id = angry["message_id"].as_str().unwrap();
    let (status, tagged) = app
        .internal_post(
            Some(INTERNAL_TOKEN),
            &format!("/internal/conversations/{session}/tags"),
            &json!({"chatbot_id": bot.id, "tag": "escalate", "message_id": angry_id}),
        )
        .await;
    assert_eq!(status, 200, "{tagged}");
    let (status, posted) = app
        .internal_post(
            Some(INTERNAL_TOKEN),
            &format!("/internal/conversations/{session}/messages"),
            &json!({"chatbot_id": bot.id, "text": "A person will call you", "idempotency_key": "exec-7:send"}),
        )
        .await;
    assert_eq!(status, 201, "{posted}");

    let history = app.messages(session).await;

    assert_eq!(history["session_id"], session);
    assert_eq!(history["chatbot_id"], bot.id);
    assert_eq!(history["user_email"], "ann@example.com");
    assert_eq!(history["tags"], json!(["escalate"]));
    assert_eq!(history["total"], 5);
    let items = history["items"].as_array().unwrap();
    let shape: Vec<(&str, &str)> = items
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shape,
        [
            ("user", "widget"),
            ("assistant", "faq"),
            ("user", "widget"),
            ("assistant", "fallback"),
            ("assistant", "workflow"),
        ]
    );
    assert_eq!(items[1]["content"], HOURS_ANSWER);
    assert_eq!(items[0]["sentiment_score"], first["sentiment"]["score"]);
    assert_eq!(items[2]["id"], angry_id);
    assert_eq!(items[2]["sentiment_score"], angry["sentiment"]["score"]);
    assert!(items[2]["sentiment_score"].as_f64().unwrap() <= -0.5);
    assert_eq!(items[2]["tags"], json!(["escalate"]));
    for reply in [&items[1], &items[3], &items[4]] {
        assert_eq!(reply["sentiment_score"], Value::Null, "{reply}");
    }
    for untagged in [&items[0], &items[1], &items[3], &items[4]] {
        assert_eq!(untagged["tags"], json!([]), "{untagged}");
    }
    assert_eq!(items[4]["id"], posted["message_id"]);
    assert_eq!(items[4]["content"], "A person will call you");
}

#[tokio::test]
async fn another_users_conversations_are_404() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let answer = app.say(&bot, "Hello").await;
    let session = answer["session_id"].as_str().unwrap();
    let (_, stranger) = app.other_user();

    let (status, body) = app
        .get_as(
            &stranger,
            &format!("/api/v1/conversations/{session}/messages"),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, _) = app.conversations_as(&stranger, &bot.id, "").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get_as(
            &app.token,
            &format!("/api/v1/conversations/{}/messages", Uuid::new_v4()),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_same_email_without_its_session_opens_another_conversation_listed_newest_first() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let first = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "ann@example.com"}),
        )
        .await;
    let other = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "bob@example.com"}),
        )
        .await;
    let second = app
        .say_with(
            &bot,
            json!({"message": "Hello again", "user_email": "ann@example.com"}),
        )
        .await;

    assert_eq!(second["new_session"], true);
    assert_ne!(second["session_id"], first["session_id"]);
    let list = app.conversations(&bot, "?user_email=ann@example.com").await;
    assert_eq!(list["total"], 2);
    assert_eq!(
        ids(&list),
        [
            second["session_id"].as_str().unwrap(),
            first["session_id"].as_str().unwrap()
        ]
    );
    let all = app.conversations(&bot, "").await;
    assert_eq!(all["total"], 3);
    assert_eq!(all["items"][1]["id"], other["session_id"]);
}

#[tokio::test]
async fn every_list_refuses_a_page_out_of_range_or_malformed_with_the_same_422() {
    use echoflow_service_kit::pagination::{Pagination, REFUSED_QUERIES};
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let said = app.say(&bot, "hello").await;
    let session = said["session_id"].as_str().unwrap();
    for path in [
        "/api/v1/chatbots".to_string(),
        format!("/api/v1/chatbots/{}/conversations", bot.id),
        format!("/api/v1/conversations/{session}/messages"),
    ] {
        for (query, _) in REFUSED_QUERIES {
            let (status, body) = app.get_as(&app.token, &format!("{path}?{query}")).await;
            assert_eq!(status, 422, "{path}?{query}: {body}");
            let expected = Pagination::from_query(query).unwrap_err().body();
            assert_eq!(body, expected, "{path}?{query}");
        }
        let (status, body) = app
            .get_as(&app.token, &format!("{path}?limit=200&offset=1000000"))
            .await;
        assert_eq!(
            (status, body["items"].as_array().map(Vec::len)),
            (200, Some(0))
        );
    }
}
