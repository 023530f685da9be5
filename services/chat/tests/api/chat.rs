//! Run with: cargo test -p echoflow-chat --test api

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    ANGRY, DEFAULT_FALLBACK, HOURS_ANSWER, TestApp, assert_error, assert_invalid, spawn_app,
    spawn_app_on_postgres,
};
use crate::intents::REFUND_EXAMPLES;

const SATURDAY: &str = "When are you open on Saturday?";

/// Asserts `bot` has no conversation at all.
async fn assert_no_conversations(app: &TestApp, token: &str, bot_id: &str) {
    let (status, list) = app.conversations_as(token, bot_id, "").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["total"], 0,
        "a refused request stored something: {list}"
    );
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn refused_requests_store_nothing_and_emit_nothing() {
    let app = spawn_app().await;
    let mut events = app.events();
    let bot = app.faq_bot().await;
    let (_, other) = app.other_user();
    let theirs = app.chatbot_of(&other, json!({"name": "Theirs"})).await;
    // A conversation of another chatbot, to try to continue through this one.
    let foreign = app.say(&theirs, "Hello").await;
    events.take(3).await;
    let message = |extra: Value| {
        let mut body = json!({"chatbot_id": bot.id, "message": SATURDAY});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // Who may not talk to the chatbot: 401.
    for (key, body) in [
        (None, message(json!({}))),
        (Some(""), message(json!({}))),
        (Some("ecb_not-a-key"), message(json!({}))),
        // A valid key of one user's chatbot, naming another user's chatbot.
        (Some(theirs.api_key.as_str()), message(json!({}))),
        (
            Some(bot.api_key.as_str()),
            json!({"chatbot_id": theirs.id, "message": SATURDAY}),
        ),
    ] {
        let (status, answer) = app.chat(key, &body).await;
        assert_eq!(status, 401, "key {key:?}: {answer}");
        assert_error(&answer, "UNAUTHORIZED");
    }

    // What may not be said: 422, 413; a conversation not proven: 401.
    let key = Some(bot.api_key.as_str());
    for text in ["", "   \n\t  "] {
        let (status, answer) = app.chat(key, &message(json!({"message": text}))).await;
        assert_invalid(status, &answer, "message");
    }
    let (status, answer) = app
        .chat(key, &message(json!({"message": "a".repeat(4001)})))
        .await;
    assert_eq!(status, 413, "{answer}");
    let error = assert_error(&answer, "PAYLOAD_TOO_LARGE");
    assert_eq!(error["details"]["max_chars"], 4000);
    for email in ["not-an-email", "ann@", "a b@example.com"] {
        let (status, answer) = app.chat(key, &message(json!({"user_email": email}))).await;
        assert_invalid(status, &answer, "user_email");
    }
    let (status, answer) = app
        .chat(key, &message(json!({"image_url": "file:///etc/passwd"})))
        .await;
    assert_invalid(status, &answer, "image_url");
    // Continuing without the conversation's token: 401, whether the session
    // exists (here or in another chatbot) or not, and with another chatbot's token.
    let foreign_session = foreign["session_id"].as_str().unwrap().to_string();
    let foreign_token = app.session_token(&foreign_session);
    for (session, token) in [
        (Uuid::new_v4().to_string(), None),
        (foreign_session.clone(), None),
        (foreign_session, foreign_token),
    ] {
        let (status, answer) = app
            .chat_proving(
                key,
                token.as_deref(),
                &message(json!({"session_id": session})),
            )
            .await;
        assert_eq!(status, 401, "{answer}");
        let error = assert_error(&answer, "UNAUTHORIZED");
        assert_eq!(error["details"]["header"], "X-Session-Token", "{answer}");
    }

    assert_no_conversations(&app, &app.token, &bot.id).await;
    let (_, theirs_list) = app.conversations_as(&other, &theirs.id, "").await;
    assert_eq!(theirs_list["total"], 1, "{theirs_list}");
    let (_, history) = app
        .get_as(
            &other,
            &format!(
                "/api/v1/conversations/{}/messages",
                foreign["session_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(history["total"], 2, "{history}");
    events.assert_none().await;

    // The outbox relays in order: the next event is the next accepted message's.
    let accepted = app.say(&bot, SATURDAY).await;
    let next = events.next().await;
    assert_eq!(next["type"], "conversation.started");
    assert_eq!(next["subject"], accepted["session_id"]);
}

#[tokio::test]
async fn a_message_of_the_maximum_length_is_accepted() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let text = "word ".repeat(800);
    assert_eq!(text.trim().chars().count(), 3999);
    let answer = app.say(&bot, &format!("{}x", text.trim())).await;
    assert_eq!(answer["reply_source"], "fallback");
    // Surrounding whitespace does not count.
    let padded = format!("   {}   ", "a".repeat(4000));
    app.say(&bot, &padded).await;
}

#[tokio::test]
async fn a_neutral_faq_question_gets_the_faq_answer() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;

    let answer = app.say(&bot, SATURDAY).await;

    assert_eq!(answer["reply"], HOURS_ANSWER);
    assert_eq!(answer["reply_source"], "faq");
    assert_eq!(answer["sentiment"]["label"], "neutral", "{answer}");
    assert!(answer["sentiment"]["score"].as_f64().unwrap().abs() < 0.05);
    assert_eq!(answer["intent"], Value::Null);
    assert_eq!(answer["new_session"], true);
    for id in ["session_id", "message_id", "reply_message_id"] {
        Uuid::parse_str(answer[id].as_str().unwrap()).unwrap();
    }

    let history = app.messages(answer["session_id"].as_str().unwrap()).await;
    assert_eq!(history["total"], 2);
    let items = history["items"].as_array().unwrap();
    assert_eq!(items[0]["id"], answer["message_id"]);
    assert_eq!(items[0]["role"], "user");
    assert_eq!(items[0]["content"], SATURDAY);
    assert_eq!(items[0]["source"], "widget");
    assert_eq!(items[0]["sentiment_label"], "neutral");
    assert_eq!(items[1]["id"], answer["reply_message_id"]);
    assert_eq!(items[1]["role"], "assistant");
    assert_eq!(items[1]["content"], HOURS_ANSWER);
    assert_eq!(items[1]["source"], "faq");
}

#[tokio::test]
async fn an_off_topic_question_gets_the_fallback_message() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;

    let answer = app.say(&bot, "What is the capital of France?").await;

    assert_eq!(answer["reply"], DEFAULT_FALLBACK);
    assert_eq!(answer["reply_source"], "fallback");
}

#[tokio::test]
async fn an_angry_message_is_strongly_negative() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;

    let answer = app.say(&bot, ANGRY).await;

    let score = answer["sentiment"]["score"].as_f64().unwrap();
    assert!(score <= -0.5, "score {score}");
    assert!(score >= -1.0);
    assert_eq!(answer["sentiment"]["label"], "negative");
    let history = app.messages(answer["session_id"].as_str().unwrap()).await;
    assert_eq!(history["items"][0]["sentiment_score"], json!(score));
    assert_eq!(history["items"][0]["sentiment_label"], "negative");
}

#[tokio::test]
async fn a_chatbot_intent_is_detected_with_its_confidence() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    app.add_intent(&bot, "refund", &REFUND_EXAMPLES).await;
    app.add_intent(
        &bot,
        "delivery",
        &["Where is my parcel?", "Track my delivery"],
    )
    .await;

    let answer = app.say(&bot, "I want a refund for my order").await;

    assert_eq!(answer["intent"]["name"], "refund", "{answer}");
    let confidence = answer["intent"]["confidence"].as_f64().unwrap();
    assert!((0.3..=1.0).contains(&confidence), "confidence {confidence}");
    let history = app.messages(answer["session_id"].as_str().unwrap()).await;
    assert_eq!(history["items"][0]["intent"], "refund");
    assert_eq!(history["items"][0]["intent_confidence"], json!(confidence));

    let other = app.say(&bot, SATURDAY).await;
    assert_eq!(other["intent"], Value::Null, "{other}");

    // A chatbot's own threshold above any confidence turns detection off.
    let (status, _) = app
        .put_as(
            &app.token,
            &format!("/api/v1/chatbots/{}", bot.id),
            &json!({"settings": {"intent_min_confidence": 1.0}}),
        )
        .await;
    assert_eq!(status, 200);
    let strict = app.say(&bot, "I want a refund for my order").await;
    assert_eq!(strict["intent"], Value::Null, "{strict}");
}

#[tokio::test]
async fn a_conversation_continues_by_session_id_with_the_welcome_only_at_its_start() {
    let app = spawn_app().await;
    let bot = app
        .faq_bot_with(json!({"name": "Shop bot", "welcome_message": "Hi! Ask me anything."}))
        .await;

    let first = app.say(&bot, "Hello there").await;
    assert_eq!(first["new_session"], true);
    assert_eq!(first["welcome_message"], "Hi! Ask me anything.");
    let session = first["session_id"].as_str().unwrap();

    let second = app.say_in(&bot, session, SATURDAY).await;
    assert_eq!(second["session_id"], session);
    assert_eq!(second["new_session"], false);
    assert!(second.get("welcome_message").is_none(), "{second}");
    assert_eq!(second["reply"], HOURS_ANSWER);

    // Without a session id or an email, every message opens a conversation.
    let third = app.say(&bot, SATURDAY).await;
    assert_eq!(third["new_session"], true);
    assert_ne!(third["session_id"], session);

    // The welcome the widget showed opens the history, once.
    let history = app.messages(session).await;
    assert_eq!(history["total"], 5);
    let items = history["items"].as_array().unwrap();
    let contents: Vec<&str> = items
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents[0], "Hi! Ask me anything.");
    assert_eq!(items[0]["source"], "welcome");
    assert_eq!(items[0]["role"], "assistant");
    assert_eq!(contents[1], "Hello there");
    assert_eq!(contents[3], SATURDAY);
    assert_eq!(contents[4], HOURS_ANSWER);
    let list = app.conversations(&bot, "").await;
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn an_email_alone_opens_a_new_conversation_for_that_email() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;

    let first = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "Ann@Example.com"}),
        )
        .await;
    assert_eq!(first["new_session"], true);
    let session = first["session_id"].as_str().unwrap();

    // Whoever knows her email (and the public widget key) is not let into
    // her conversation: the same email opens a new one, with its own token.
    let second = app
        .say_with(
            &bot,
            json!({"message": SATURDAY, "user_email": " ann@example.com "}),
        )
        .await;
    assert_eq!(second["new_session"], true, "{second}");
    assert_ne!(second["session_id"], session, "{second}");
    assert_ne!(second["session_token"], first["session_token"]);

    let list = app.conversations(&bot, "?user_email=ann@example.com").await;
    assert_eq!(list["total"], 2, "{list}");
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["user_email"], "ann@example.com");
        assert_eq!(item["message_count"], 2, "{list}");
    }
}

#[tokio::test]
async fn an_email_given_later_joins_the_conversation() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let first = app.say(&bot, "Hello").await;
    let session = first["session_id"].as_str().unwrap();

    app.say_with(
        &bot,
        json!({"message": "I am ann@example.com", "session_id": session, "user_email": "ann@example.com"}),
    )
    .await;
    let third = app.say_in(&bot, session, SATURDAY).await;

    assert_eq!(third["session_id"], session, "{third}");
    let list = app.conversations(&bot, "?user_email=ann@example.com").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["message_count"], 6);
    let history = app.messages(session).await;
    assert_eq!(history["user_email"], "ann@example.com");
}

#[tokio::test]
async fn concurrent_messages_are_all_answered_and_stored() {
    concurrent_messages_on(spawn_app().await).await;
}

#[tokio::test]
async fn concurrent_messages_are_all_answered_and_stored_on_postgres() {
    concurrent_messages_on(spawn_app_on_postgres().await).await;
}

/// 12 messages at once: 4 continue a conversation (with its token), 4 are
/// new users, and 4 are one user writing from several tabs, each tab in its
/// own conversation (an email alone continues none).
async fn concurrent_messages_on(app: TestApp) {
    let bot = app.faq_bot().await;
    let first = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "ann@example.com"}),
        )
        .await;
    let session = first["session_id"].as_str().unwrap().to_string();
    let bodies: Vec<Value> = (0..12)
        .map(|i| match i % 3 {
            0 => json!({"chatbot_id": bot.id, "message": SATURDAY, "session_id": session}),
            1 => json!({"chatbot_id": bot.id, "message": SATURDAY, "user_email": format!("user{i}@example.com")}),
            _ => json!({"chatbot_id": bot.id, "message": SATURDAY, "user_email": "new@example.com"}),
        })
        .collect();

    let answers = app.chat_concurrently(&bot.api_key, bodies).await;

    assert_eq!(answers.len(), 12);
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["reply"], HOURS_ANSWER);
    }
    assert_eq!(app.messages(&session).await["total"], 2 + 2 * 4);
    let new_user = app.conversations(&bot, "?user_email=new@example.com").await;
    assert_eq!(new_user["total"], 4, "one conversation per tab: {new_user}");
    for tab in new_user["items"].as_array().unwrap() {
        assert_eq!(tab["message_count"], 2, "{new_user}");
    }
    let opened = answers
        .iter()
        .filter(|(_, a)| a["new_session"] == true)
        .count();
    assert_eq!(opened, 8, "every message without session_id opened one");
}

#[tokio::test]
async fn another_email_may_not_continue_a_conversation() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let first = app
        .say_with(
            &bot,
            json!({"message": "Hello", "user_email": "ann@example.com"}),
        )
        .await;
    let session = first["session_id"].as_str().unwrap();
    let token = app.session_token(session);
    let hijack = json!({"chatbot_id": bot.id, "message": "Hi, it's me", "session_id": session,
                        "user_email": "mallory@example.com"});
    // Without the token: 401, as for any unproven session.
    let (status, body) = app.chat(Some(&bot.api_key), &hijack).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
    // With it, another email still may not take the conversation over.
    let (status, body) = app
        .chat_proving(Some(&bot.api_key), token.as_deref(), &hijack)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "CONFLICT");
    let history = app.messages(session).await;
    assert_eq!(history["total"], 2, "nothing stored: {history}");
    // The same email, in any case, continues it.
    let (status, body) = app
        .chat_proving(
            Some(&bot.api_key),
            token.as_deref(),
            &json!({"chatbot_id": bot.id, "message": "Still me", "session_id": session,
                    "user_email": "ANN@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session_token"], first["session_token"]);
}
