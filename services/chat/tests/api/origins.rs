//! Run with: cargo test -p echoflow-chat --test api origins
//!
//! The widget's routes accept the origins the chatbot allows
//! (`settings.allowed_origins`, empty = any): an allowed page reads the
//! answer (its origin echoed in `Access-Control-Allow-Origin`), another is
//! refused with 403 `ORIGIN_NOT_ALLOWED` before anything is stored.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::{Chatbot, HOURS_QUESTION, KEY_HEADER, TestApp, assert_error, read, spawn_app};

const SHOP: &str = "https://shop.example.com";
const EVIL: &str = "https://evil.example";

/// A widget request: `method` on `path` with the bot's key and `origin`.
async fn widget_call(
    app: &TestApp,
    bot: &Chatbot,
    origin: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut request = match body {
        Some(body) => app.client.post(app.url(path)).json(&body),
        None => app.client.get(app.url(path)),
    }
    .header(KEY_HEADER, &bot.api_key);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    let (status, body) = read(response).await;
    (status, headers, body)
}

async fn chat_from(
    app: &TestApp,
    bot: &Chatbot,
    origin: Option<&str>,
    message: &str,
) -> (u16, HeaderMap, Value) {
    let body = json!({"chatbot_id": bot.id, "message": message});
    widget_call(app, bot, origin, "/api/v1/chat", Some(body)).await
}

fn allow_origin(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("access-control-allow-origin")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn varies_by_origin(headers: &HeaderMap) -> bool {
    headers.get_all("vary").iter().any(|v| {
        v.to_str()
            .unwrap()
            .split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("origin"))
    })
}

async fn shop_bot(app: &TestApp) -> Chatbot {
    app.faq_bot_with(json!({"name": "Shop bot", "settings": {"allowed_origins": [SHOP]}}))
        .await
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_chats_and_may_read_the_answer() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    let (status, headers, answer) = chat_from(&app, &bot, Some(SHOP), HOURS_QUESTION).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reply_source"], "faq");
    assert_eq!(allow_origin(&headers), [SHOP]);
    assert!(varies_by_origin(&headers));
    assert_eq!(
        headers.get("access-control-expose-headers").unwrap(),
        "Retry-After"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "credentials are never allowed"
    );
}

#[tokio::test]
async fn a_page_on_another_origin_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    for origin in [
        EVIL,
        "https://shop.example.com:8443",
        "http://shop.example.com",
        "null",
    ] {
        let (status, headers, body) = chat_from(&app, &bot, Some(origin), "hello").await;
        assert_eq!(status, 403, "{origin}: {body}");
        let error = assert_error(&body, "ORIGIN_NOT_ALLOWED");
        assert_eq!(error["details"]["origin"], origin);
        assert!(
            allow_origin(&headers).is_empty(),
            "{origin}: no Access-Control-Allow-Origin"
        );
        assert!(varies_by_origin(&headers));
    }
    assert_eq!(
        app.conversations(&bot, "").await["total"],
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn an_empty_allow_list_accepts_any_origin() {
    let app = spawn_app().await;
    let bot = app.faq_bot().await;
    for origin in [SHOP, EVIL, "http://localhost:3000"] {
        let (status, headers, body) = chat_from(&app, &bot, Some(origin), HOURS_QUESTION).await;
        assert_eq!(status, 200, "{origin}: {body}");
        assert_eq!(allow_origin(&headers), [origin]);
    }
}

#[tokio::test]
async fn a_call_without_origin_is_not_a_browsers_and_is_answered_without_cors_headers() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    let (status, headers, body) = chat_from(&app, &bot, None, HOURS_QUESTION).await;
    assert_eq!(status, 200, "{body}");
    assert!(allow_origin(&headers).is_empty());
}

#[tokio::test]
async fn errors_after_the_origin_is_admitted_are_readable_by_the_page() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    let (status, headers, body) = chat_from(&app, &bot, Some(SHOP), "   ").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(allow_origin(&headers), [SHOP], "the widget can show why");
    // Continuing a conversation without its token: 401, readable too.
    let session = app.say(&bot, "hello").await["session_id"].clone();
    let body = json!({"chatbot_id": bot.id, "message": "hi", "session_id": session});
    let (status, headers, body) =
        widget_call(&app, &bot, Some(SHOP), "/api/v1/chat", Some(body)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(allow_origin(&headers), [SHOP]);
}

/// Refusals made before the chatbot is known (no key, a wrong one, a body
/// that does not parse) tell nothing of a chatbot: the widget's page reads
/// them, whatever its origin; the chatbot's own refusal (403) stays unreadable.
#[tokio::test]
async fn refusals_before_the_chatbot_is_known_are_readable_by_the_page() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    let stranger = Chatbot {
        api_key: "ecb_not-a-key".into(),
        ..bot.clone()
    };
    let session = app.say(&bot, "hello").await;
    let session_path = |what: &str| {
        format!(
            "/api/v1/chat/sessions/{}/{what}",
            session["session_id"].as_str().unwrap()
        )
    };
    let calls = [
        (
            "/api/v1/chat".to_string(),
            Some(json!({"chatbot_id": bot.id, "message": "hi"})),
        ),
        (session_path("messages"), None),
        (session_path("stream"), None),
        ("/api/v1/chat/config".to_string(), None),
        ("/api/v1/chat/faqs".to_string(), None),
    ];
    for (path, body) in calls {
        let (status, headers, answer) = widget_call(&app, &stranger, Some(SHOP), &path, body).await;
        assert_eq!(status, 401, "{path}: {answer}");
        assert_error(&answer, "UNAUTHORIZED");
        assert_eq!(allow_origin(&headers), [SHOP], "{path}");
        assert!(varies_by_origin(&headers), "{path}");
        assert_eq!(
            headers.get("access-control-expose-headers").unwrap(),
            "Retry-After"
        );
    }
    // No key at all.
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .header("origin", SHOP)
        .json(&json!({"chatbot_id": bot.id, "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(allow_origin(response.headers()), [SHOP]);
    // A body that is not a chat request.
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .header(KEY_HEADER, &bot.api_key)
        .header("origin", SHOP)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(allow_origin(response.headers()), [SHOP]);
    // Once the chatbot is known, its allow-list decides, for refusals too.
    let (status, headers, _) = chat_from(&app, &bot, Some(EVIL), "hi").await;
    assert_eq!(status, 403);
    assert!(allow_origin(&headers).is_empty());
}

#[tokio::test]
async fn the_widgets_config_and_faqs_follow_the_same_origins() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    for path in ["/api/v1/chat/config", "/api/v1/chat/faqs"] {
        let (status, headers, body) = widget_call(&app, &bot, Some(SHOP), path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(allow_origin(&headers), [SHOP], "{path}");
        let (status, headers, body) = widget_call(&app, &bot, Some(EVIL), path, None).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert_error(&body, "ORIGIN_NOT_ALLOWED");
        assert!(allow_origin(&headers).is_empty(), "{path}");
    }
}

#[tokio::test]
async fn the_owners_routes_never_echo_an_origin() {
    let app = spawn_app().await;
    let bot = shop_bot(&app).await;
    let response = app
        .client
        .get(app.url(&format!("/api/v1/chatbots/{}", bot.id)))
        .bearer_auth(&app.token)
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        allow_origin(response.headers()).is_empty(),
        "the gateway's allow-list decides there"
    );
}

#[tokio::test]
async fn allowed_origins_are_checked_and_stored_as_browsers_send_them() {
    let app = spawn_app().await;
    let bot = app.chatbot_with(json!({"name": "Shop bot"})).await;
    let path = format!("/api/v1/chatbots/{}", bot.id);
    let (status, updated) = app
        .put_as(
            &app.token,
            &path,
            &json!({"settings": {"allowed_origins": ["HTTPS://Shop.Example.com:443/", "http://localhost:3000", "https://shop.example.com"]}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["settings"]["allowed_origins"],
        json!([SHOP, "http://localhost:3000"])
    );
    // The stored spelling is the one browsers send, so the check matches it.
    let (status, _, body) = chat_from(&app, &bot, Some(SHOP), "hi").await;
    assert_eq!(status, 200, "{body}");

    for (bad, at) in [
        (
            json!(["https://shop.example.com/widget"]),
            "settings.allowed_origins.0",
        ),
        (json!([SHOP, "*"]), "settings.allowed_origins.1"),
        (json!(["shop.example.com"]), "settings.allowed_origins.0"),
        (
            json!(["ftp://shop.example.com"]),
            "settings.allowed_origins.0",
        ),
        (
            json!(
                (0..51)
                    .map(|i| format!("https://s{i}.example"))
                    .collect::<Vec<_>>()
            ),
            "settings.allowed_origins",
        ),
    ] {
        let (status, body) = app
            .put_as(
                &app.token,
                &path,
                &json!({"settings": {"allowed_origins": bad}}),
            )
            .await;
        crate::helpers::assert_invalid(status, &body, at);
    }
    // An empty list allows any origin again.
    let (status, updated) = app
        .put_as(
            &app.token,
            &path,
            &json!({"settings": {"allowed_origins": []}}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        updated["settings"].get("allowed_origins").is_none(),
        "{updated}"
    );
    let (status, _, _) = chat_from(&app, &bot, Some(EVIL), "hi").await;
    assert_eq!(status, 200);
}
