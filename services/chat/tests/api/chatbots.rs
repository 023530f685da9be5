//! Run with: cargo test -p echoflow-chat --test api

use serde_json::{Value, json};

use crate::helpers::{Chatbot, HOURS_ANSWER, assert_error, assert_invalid, spawn_app};

#[tokio::test]
async fn create_shows_the_api_key_once_and_get_and_list_never_show_it() {
    let app = spawn_app().await;

    let (status, created) = app
        .create_chatbot_as(
            &app.token,
            &json!({"name": "  Shop bot  ", "welcome_message": "Hi! Ask me anything."}),
        )
        .await;

    assert_eq!(status, 201, "{created}");
    let key = created["api_key"].as_str().unwrap();
    assert!(key.starts_with("ecb_") && key.len() > 40, "{created}");
    assert_eq!(created["api_key_prefix"], key[..12]);
    assert_eq!(created["name"], "Shop bot");
    assert_eq!(created["welcome_message"], "Hi! Ask me anything.");
    assert_eq!(created["settings"], json!({}));
    assert_eq!(created["memory_window"], 10);
    let id = created["id"].as_str().unwrap();

    let (status, got) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{id}"))
        .await;
    assert_eq!(status, 200, "{got}");
    assert!(got.get("api_key").is_none(), "GET shows the key: {got}");
    assert_eq!(got["api_key_prefix"], created["api_key_prefix"]);
    assert_eq!(got["name"], "Shop bot");

    let (status, list) = app.get_as(&app.token, "/api/v1/chatbots").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    assert!(
        list["items"][0].get("api_key").is_none(),
        "list shows the key: {list}"
    );
    assert!(
        !list.to_string().contains(key),
        "the key leaks into the list"
    );
}

#[tokio::test]
async fn requests_without_a_user_token_are_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/chatbots"))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::helpers::read(response).await;
    assert_eq!(status, 401);
    assert_error(&body, "UNAUTHORIZED");
}

#[tokio::test]
async fn list_holds_only_the_callers_chatbots_newest_first() {
    let app = spawn_app().await;
    let (_, other) = app.other_user();
    let first = app.chatbot_with(json!({"name": "First"})).await;
    let second = app.chatbot_with(json!({"name": "Second"})).await;
    let theirs = app.chatbot_of(&other, json!({"name": "Theirs"})).await;

    let (status, mine) = app.get_as(&app.token, "/api/v1/chatbots").await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["total"], 2);
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.id.as_str(), first.id.as_str()]);

    let (_, theirs_list) = app.get_as(&other, "/api/v1/chatbots").await;
    assert_eq!(theirs_list["total"], 1);
    assert_eq!(theirs_list["items"][0]["id"], theirs.id);
}

#[tokio::test]
async fn another_users_chatbot_is_404_everywhere() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let (_, other) = app.other_user();
    let base = format!("/api/v1/chatbots/{}", bot.id);

    let attempts = [
        app.get_as(&other, &base).await,
        app.put_as(&other, &base, &json!({"name": "Stolen"})).await,
        app.get_as(&other, &format!("{base}/faqs")).await,
        app.post_as(
            &other,
            &format!("{base}/faqs"),
            &json!({"question": "q", "answer": "a"}),
        )
        .await,
        app.get_as(&other, &format!("{base}/intents")).await,
        app.post_as(
            &other,
            &format!("{base}/intents"),
            &json!({"name": "x", "examples": ["x"]}),
        )
        .await,
        app.get_as(&other, &format!("{base}/conversations")).await,
        app.post_as(&other, &format!("{base}/api-key/rotate"), &json!({}))
            .await,
        app.delete_as(&other, &base).await,
    ];
    for (i, (status, body)) in attempts.iter().enumerate() {
        assert_eq!(*status, 404, "attempt {i}: {body}");
        assert_error(body, "NOT_FOUND");
    }

    // Nothing changed for the owner, and the key still works.
    let (status, got) = app.get_as(&app.token, &base).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "Shop bot");
    let (_, faqs) = app.get_as(&app.token, &format!("{base}/faqs")).await;
    assert_eq!(faqs["total"], 1);
    let (_, intents) = app.get_as(&app.token, &format!("{base}/intents")).await;
    assert_eq!(intents["total"], 0);
    let answer = app.say(&bot, "When are you open on Saturday?").await;
    assert_eq!(answer["reply"], HOURS_ANSWER);
}

#[tokio::test]
async fn settings_are_checked_on_create_and_update() {
    let app = spawn_app().await;

    let (status, body) = app
        .create_chatbot_as(
            &app.token,
            &json!({"name": "Bot", "settings": {"memory_windw": 3}}),
        )
        .await;
    assert_invalid(status, &body, "settings");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memory_windw"),
        "the message should name the unknown key: {body}"
    );

    let (status, body) = app
        .create_chatbot_as(
            &app.token,
            &json!({"name": "Bot", "settings": {"memory_window": 51}}),
        )
        .await;
    assert_invalid(status, &body, "settings.memory_window");

    let (status, body) = app
        .create_chatbot_as(
            &app.token,
            &json!({"name": "Bot", "settings": {"temperature": 3.0}}),
        )
        .await;
    assert_invalid(status, &body, "settings.temperature");

    let (status, body) = app
        .create_chatbot_as(&app.token, &json!({"name": "   "}))
        .await;
    assert_invalid(status, &body, "name");

    // Nothing of the refused creations exists.
    let (_, list) = app.get_as(&app.token, "/api/v1/chatbots").await;
    assert_eq!(list["total"], 0, "{list}");

    let bot = app
        .chatbot_with(json!({"name": "Bot", "settings": {"memory_window": 50}}))
        .await;
    let (status, body) = app
        .put_as(
            &app.token,
            &format!("/api/v1/chatbots/{}", bot.id),
            &json!({"settings": {"memory_window": 51}}),
        )
        .await;
    assert_invalid(status, &body, "settings.memory_window");
    let (status, body) = app
        .put_as(
            &app.token,
            &format!("/api/v1/chatbots/{}", bot.id),
            &json!({"settings": {"nonsense": true}}),
        )
        .await;
    assert_invalid(status, &body, "settings");
    let (_, got) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}", bot.id))
        .await;
    assert_eq!(got["settings"], json!({"memory_window": 50}));
}

#[tokio::test]
async fn update_merges_settings_and_keeps_what_it_does_not_name() {
    let app = spawn_app().await;
    let bot = app
        .chatbot_with(json!({
            "name": "Bot",
            "welcome_message": "Hello",
            "settings": {"memory_window": 3, "responder": "builtin"}
        }))
        .await;
    assert_eq!(bot.body["memory_window"], 3);
    let path = format!("/api/v1/chatbots/{}", bot.id);

    let (status, updated) = app
        .put_as(
            &app.token,
            &path,
            &json!({"settings": {"memory_window": 5, "fallback_message": "Ask a person."}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["settings"],
        json!({"memory_window": 5, "responder": "builtin", "fallback_message": "Ask a person."})
    );
    assert_eq!(updated["memory_window"], 5);
    assert_eq!(updated["name"], "Bot");
    assert_eq!(updated["welcome_message"], "Hello");
    assert!(updated.get("api_key").is_none(), "{updated}");
    // An empty welcome message removes it.
    let (status, cleared) = app
        .put_as(&app.token, &path, &json!({"welcome_message": "  "}))
        .await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["welcome_message"], Value::Null);

    // A null goes back to the default; a name-only update leaves settings alone.
    let (_, updated) = app
        .put_as(
            &app.token,
            &path,
            &json!({"settings": {"memory_window": null}}),
        )
        .await;
    assert_eq!(
        updated["settings"],
        json!({"responder": "builtin", "fallback_message": "Ask a person."})
    );
    assert_eq!(updated["memory_window"], 10);
    let (status, updated) = app
        .put_as(&app.token, &path, &json!({"name": "Renamed"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["name"], "Renamed");

    let (_, got) = app.get_as(&app.token, &path).await;
    assert_eq!(got["name"], "Renamed");
    assert_eq!(
        got["settings"],
        json!({"responder": "builtin", "fallback_message": "Ask a person."})
    );

    // The chatbot's own fallback is what end users now get.
    let answer = app.say(&bot, "What is the capital of France?").await;
    assert_eq!(answer["reply"], "Ask a person.");
    assert_eq!(answer["reply_source"], "fallback");
}

#[tokio::test]
async fn rotating_the_key_retires_the_old_one_at_once() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;

    let (status, rotated) = app
        .post_as(
            &app.token,
            &format!("/api/v1/chatbots/{}/api-key/rotate", bot.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["api_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, bot.api_key);
    assert_eq!(rotated["api_key_prefix"], new_key[..12]);
    assert_eq!(rotated["id"], bot.id);

    let message = json!({"chatbot_id": bot.id, "message": "When are you open on Saturday?"});
    let (status, body) = app.chat(Some(&bot.api_key), &message).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");

    let rotated_bot = Chatbot {
        api_key: new_key,
        ..bot.clone()
    };
    let answer = app
        .say(&rotated_bot, "When are you open on Saturday?")
        .await;
    assert_eq!(answer["reply"], HOURS_ANSWER);

    let (_, got) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}", bot.id))
        .await;
    assert_eq!(got["api_key_prefix"], rotated["api_key_prefix"]);
    assert!(got.get("api_key").is_none());
}

#[tokio::test]
async fn deleting_a_chatbot_stops_its_key_and_removes_it() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let kept = app.faq_bot().await;
    app.say(&bot, "When are you open on Saturday?").await;
    let path = format!("/api/v1/chatbots/{}", bot.id);

    let (status, body) = app.delete_as(&app.token, &path).await;
    assert_eq!(status, 204, "{body}");

    let (status, body) = app.get_as(&app.token, &path).await;
    assert_eq!(status, 404);
    assert_error(&body, "NOT_FOUND");
    let (status, _) = app.conversations_as(&app.token, &bot.id, "").await;
    assert_eq!(status, 404);
    let (status, body) = app
        .chat(
            Some(&bot.api_key),
            &json!({"chatbot_id": bot.id, "message": "When are you open on Saturday?"}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
    let (status, _) = app.delete_as(&app.token, &path).await;
    assert_eq!(status, 404);

    // The other chatbot is untouched.
    let (_, list) = app.get_as(&app.token, "/api/v1/chatbots").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], kept.id);
    app.say(&kept, "When are you open on Saturday?").await;
}

#[tokio::test]
async fn settings_that_are_not_an_object_are_422() {
    let app = spawn_app().await;
    for settings in [json!([]), json!(["Be rude."]), json!("builtin"), json!(5)] {
        let (status, body) = app
            .create_chatbot_as(&app.token, &json!({"name": "Bot", "settings": settings}))
            .await;
        assert_invalid(status, &body, "settings");
    }
    let bot = app.chatbot_with(json!({"name": "Bot"})).await;
    for settings in [json!([]), json!(["Be rude."]), json!("builtin")] {
        let (status, body) = app
            .put_as(
                &app.token,
                &format!("/api/v1/chatbots/{}", bot.id),
                &json!({"settings": settings}),
            )
            .await;
        assert_invalid(status, &body, "settings");
    }
    let (_, list) = app.get_as(&app.token, "/api/v1/chatbots").await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["settings"], json!({}));
}
