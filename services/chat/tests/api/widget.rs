//! Run with: cargo test -p echoflow-chat --test api widget
//!
//! What the widget reads with its key: the chatbot's public config (name,
//! welcome message, the appearance its owner set in `settings.widget`,
//! whether the FAQ tab shows) and the FAQs for that tab.

use serde_json::{Value, json};

use crate::helpers::{
    Chatbot, HOURS_ANSWER, HOURS_QUESTION, KEY_HEADER, TestApp, assert_error, assert_invalid, read,
    spawn_app,
};

/// `GET path` with `key` (none when `None`).
async fn widget_get(app: &TestApp, key: Option<&str>, path: &str) -> (u16, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(key) = key {
        request = request.header(KEY_HEADER, key);
    }
    read(request.send().await.unwrap()).await
}

async fn config(app: &TestApp, bot: &Chatbot) -> Value {
    let (status, config) = widget_get(app, Some(&bot.api_key), "/api/v1/chat/config").await;
    assert_eq!(status, 200, "{config}");
    config
}

#[tokio::test]
async fn the_appearance_round_trips_through_the_chatbot_and_its_public_config() {
    let app = spawn_app().await;
    let bot = app
        .chatbot_with(json!({
            "name": "Shop bot",
            "welcome_message": "Hi! Ask me anything.",
            "settings": {"widget": {
                "title": "  Shop help  ",
                "primary_color": "#AA00FF",
                "position": "bottom_left",
                "avatar_url": "https://cdn.example.com/bot.png"
            }}
        }))
        .await;
    let stored = json!({
        "title": "Shop help",
        "primary_color": "#aa00ff",
        "position": "bottom_left",
        "avatar_url": "https://cdn.example.com/bot.png"
    });
    assert_eq!(bot.body["settings"]["widget"], stored);
    let (_, got) = app
        .get_as(&app.token, &format!("/api/v1/chatbots/{}", bot.id))
        .await;
    assert_eq!(got["settings"]["widget"], stored);

    let public = config(&app, &bot).await;
    assert_eq!(
        public,
        json!({
            "chatbot_id": bot.id,
            "name": "Shop bot",
            "welcome_message": "Hi! Ask me anything.",
            "appearance": {
                "title": "Shop help",
                "primary_color": "#aa00ff",
                "background_color": "#ffffff",
                "text_color": "#111827",
                "position": "bottom_left",
                "avatar_url": "https://cdn.example.com/bot.png"
            },
            "faq_enabled": false
        }),
        "no FAQs yet: no FAQ tab"
    );

    // An update merges key by key; a null goes back to the default.
    let (status, updated) = app
        .put_as(
            &app.token,
            &format!("/api/v1/chatbots/{}", bot.id),
            &json!({"settings": {"widget": {"text_color": "#000000", "title": null}}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["settings"]["widget"]["primary_color"], "#aa00ff");
    assert!(updated["settings"]["widget"].get("title").is_none());
    app.add_faq(&bot, HOURS_QUESTION, HOURS_ANSWER).await;
    let public = config(&app, &bot).await;
    assert_eq!(
        public["appearance"]["title"], "Shop bot",
        "the name stands in"
    );
    assert_eq!(public["appearance"]["text_color"], "#000000");
    assert_eq!(public["appearance"]["position"], "bottom_left");
    assert_eq!(public["faq_enabled"], true);

    // The owner can turn the FAQ tab off.
    let (status, _) = app
        .put_as(
            &app.token,
            &format!("/api/v1/chatbots/{}", bot.id),
            &json!({"settings": {"widget": {"faq_enabled": false}}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(config(&app, &bot).await["faq_enabled"], false);
}

#[tokio::test]
async fn a_chatbot_without_appearance_settings_gets_the_defaults() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    let public = config(&app, &bot).await;
    assert_eq!(
        public["appearance"],
        json!({
            "title": "Shop bot",
            "primary_color": "#2563eb",
            "background_color": "#ffffff",
            "text_color": "#111827",
            "position": "bottom_right",
            "avatar_url": null
        })
    );
    assert_eq!(public["welcome_message"], Value::Null);
    assert_eq!(public["faq_enabled"], true);
}

#[tokio::test]
async fn appearance_settings_are_checked_field_by_field() {
    let app = spawn_app().await;
    let long_title = "t".repeat(81);
    let long_url = format!("https://cdn.example.com/{}", "a".repeat(2048));
    let cases = [
        (
            json!({"primary_color": "blue"}),
            "settings.widget.primary_color",
        ),
        (
            json!({"background_color": "#fff"}),
            "settings.widget.background_color",
        ),
        (
            json!({"text_color": "#12345g"}),
            "settings.widget.text_color",
        ),
        (json!({"position": "top_middle"}), "settings.widget"),
        (
            json!({"avatar_url": "http://cdn.example.com/bot.png"}),
            "settings.widget.avatar_url",
        ),
        (
            json!({"avatar_url": "javascript:alert(1)"}),
            "settings.widget.avatar_url",
        ),
        (
            json!({"avatar_url": long_url}),
            "settings.widget.avatar_url",
        ),
        (json!({"title": "   "}), "settings.widget.title"),
        (json!({"title": long_title}), "settings.widget.title"),
        (json!({"colour": "#000000"}), "settings.widget"),
        (json!("dark"), "settings.widget"),
    ];
    for (widget, at) in cases {
        let (status, body) = app
            .create_chatbot_as(
                &app.token,
                &json!({"name": "Bot", "settings": {"widget": widget}}),
            )
            .await;
        assert_invalid(status, &body, at);
    }
    // The same checks on update; the stored settings are left as they were.
    let bot = app
        .chatbot_with(json!({"name": "Bot", "settings": {"widget": {"primary_color": "#010203"}}}))
        .await;
    let (status, body) = app
        .put_as(
            &app.token,
            &format!("/api/v1/chatbots/{}", bot.id),
            &json!({"settings": {"widget": {"primary_color": "#01020"}}}),
        )
        .await;
    assert_invalid(status, &body, "settings.widget.primary_color");
    assert_eq!(
        config(&app, &bot).await["appearance"]["primary_color"],
        "#010203"
    );
}

#[tokio::test]
async fn the_widgets_routes_need_the_chatbots_key_and_answer_for_that_chatbot_only() {
    let app = spawn_app().await;
    let shop = app.faq_bot().await;
    let other = app.chatbot_with(json!({"name": "Other bot"})).await;
    app.add_faq(&other, "Do you ship abroad?", "Yes, to the EU.")
        .await;
    for path in ["/api/v1/chat/config", "/api/v1/chat/faqs"] {
        let (status, body) = widget_get(&app, None, path).await;
        assert_eq!(status, 401, "{path}");
        assert_error(&body, "UNAUTHORIZED");
        let (status, body) = widget_get(&app, Some("ecb_guessed"), path).await;
        assert_eq!(status, 401, "{path}");
        assert_error(&body, "UNAUTHORIZED");
        // An owner's token is not a widget key.
        let (status, _) = app.get_as(&app.token, path).await;
        assert_eq!(status, 401, "{path}");
    }
    assert_eq!(config(&app, &other).await["name"], "Other bot");
    let (_, faqs) = widget_get(&app, Some(&shop.api_key), "/api/v1/chat/faqs").await;
    assert_eq!(faqs["total"], 1);
    assert_eq!(faqs["items"][0]["question"], HOURS_QUESTION);
}

#[tokio::test]
async fn the_faq_tab_lists_the_faqs_paged_with_only_what_an_end_user_sees() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    for i in 0..3 {
        let (status, _) = app
            .post_as(
                &app.token,
                &format!("/api/v1/chatbots/{}/faqs", bot.id),
                &json!({"question": format!("Question {i}?"), "answer": format!("Answer {i}."), "category": "General"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, page) = widget_get(&app, Some(&bot.api_key), "/api/v1/chat/faqs?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["question"], "Question 0?");
    assert_eq!(items[1]["answer"], "Answer 1.");
    let mut keys: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["answer", "category", "id", "question"],
        "no owner fields"
    );

    let (_, rest) = widget_get(
        &app,
        Some(&bot.api_key),
        "/api/v1/chat/faqs?limit=2&offset=2",
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["question"], "Question 2?");
    assert_eq!(rest["total"], 3);

    for &(query, field) in echoflow_service_kit::pagination::REFUSED_QUERIES {
        let (status, body) = widget_get(
            &app,
            Some(&bot.api_key),
            &format!("/api/v1/chat/faqs?{query}"),
        )
        .await;
        assert_invalid(status, &body, field);
    }
}
