//! Run with: cargo test -p echoflow-gateway --test api limits
//!
//! Rate limits: sign-in and registration per address and per account (held in
//! the identity database, so across gateways), the API per user and the chat
//! per chatbot key (per gateway): 429 with `Retry-After` and the error body.

use reqwest::Response;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, closed_loopback_url, read, spawn_app_configured,
    spawn_app_with_settings, unique_email,
};

/// Asserts a 429 with a `Retry-After` of whole seconds and the error body; returns its details.
async fn assert_throttled(response: Response) -> Value {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = read(response).await;
    assert_eq!(status, 429, "{body}");
    let retry_after: u64 = retry_after
        .unwrap_or_else(|| panic!("no Retry-After: {body}"))
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    assert_error(&body, "RATE_LIMITED")["details"].clone()
}

async fn registered(app: &TestApp) -> String {
    let email = unique_email();
    let (status, body) = read(app.register(&email, PASSWORD, None).await).await;
    assert_eq!(status, 201, "{body}");
    email
}

#[tokio::test]
async fn wrong_passwords_past_the_account_limit_are_429_with_retry_after() {
    let app = spawn_app_with_settings(vec![
        ("rate_limit.auth_per_account", "3".into()),
        ("rate_limit.auth_per_ip", "100".into()),
        ("rate_limit.auth_window_secs", "3600".into()),
    ])
    .await;
    let email = registered(&app).await;
    let other = registered(&app).await;

    for _ in 0..3 {
        let (status, body) = read(app.token(&email, "not the password at all").await).await;
        assert_eq!(status, 401, "{body}");
    }
    let details = assert_throttled(app.token(&email, "not the password either").await).await;
    assert_eq!(details["limit"], "auth_per_account");
    // The right password waits too: the account is locked for the window ...
    assert_throttled(app.token(&email, PASSWORD).await).await;
    // ... and only that account.
    assert_eq!(app.token(&other, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn sign_in_and_registration_past_the_address_limit_are_429() {
    let app = spawn_app_with_settings(vec![
        ("rate_limit.auth_per_account", "100".into()),
        ("rate_limit.auth_per_ip", "2".into()),
        ("rate_limit.auth_window_secs", "3600".into()),
    ])
    .await;
    let first = registered(&app).await;
    registered(&app).await;
    let details = assert_throttled(app.register(&unique_email(), PASSWORD, None).await).await;
    assert_eq!(details["limit"], "auth_per_ip");

    // Sign-in counts apart from registration, per address whatever the account.
    assert_eq!(app.token(&first, PASSWORD).await.status(), 200);
    assert_eq!(app.token(&unique_email(), PASSWORD).await.status(), 401);
    assert_throttled(app.token(&first, PASSWORD).await).await;
}

#[tokio::test]
async fn the_sign_in_limit_holds_across_two_gateways_on_one_postgresql_database() {
    let db = echoflow_test_support::PgDatabase::new("gateway_limits").await;
    let settings = || {
        vec![
            ("database.url", db.url()),
            ("rate_limit.auth_per_account", "4".into()),
            ("rate_limit.auth_per_ip", "100".into()),
            ("rate_limit.auth_window_secs", "3600".into()),
        ]
    };
    let one =
        spawn_app_configured(&closed_loopback_url(), &closed_loopback_url(), settings()).await;
    let two =
        spawn_app_configured(&closed_loopback_url(), &closed_loopback_url(), settings()).await;
    let email = registered(&one).await;

    // Four wrong passwords, two through each gateway: each alone is under the limit.
    for app in [&one, &two, &one, &two] {
        let (status, body) = read(app.token(&email, "not the password at all").await).await;
        assert_eq!(status, 401, "{body}");
    }
    for app in [&one, &two] {
        let details = assert_throttled(app.token(&email, PASSWORD).await).await;
        assert_eq!(details["limit"], "auth_per_account");
    }
}

#[tokio::test]
async fn a_user_past_the_api_limit_is_429_and_other_users_are_not() {
    let app =
        spawn_app_with_settings(vec![("rate_limit.api_per_user_per_minute", "3".into())]).await;
    let (_, tokens) = app.signed_in_user().await;
    let (_, other) = app.signed_in_user().await;
    let access = tokens["access_token"].as_str().unwrap();

    for _ in 0..3 {
        assert_eq!(app.me(Some(access)).await.status(), 200);
    }
    let details = assert_throttled(app.me(Some(access)).await).await;
    assert_eq!(details["limit"], "api_per_user");
    // Proxied routes draw from the same budget.
    assert_throttled(app.get_with_token("/api/v1/workflows", access).await).await;
    assert_eq!(app.me(other["access_token"].as_str()).await.status(), 200);
}

#[tokio::test]
async fn a_chatbot_key_past_the_chat_limit_is_429_before_the_chat_service() {
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"reply": "hi"})))
        .expect(3)
        .mount(&chat)
        .await;
    let app = spawn_app_configured(
        &closed_loopback_url(),
        &closed_loopback_url(),
        vec![
            ("services.chat_url", chat.uri()),
            ("rate_limit.chat_per_key_per_minute", "2".into()),
        ],
    )
    .await;
    let send = |key: &'static str| {
        app.client
            .post(app.url("/api/v1/chat"))
            .header("x-chatbot-key", key)
            .json(&json!({"message": "hello"}))
            .send()
    };

    for _ in 0..2 {
        assert_eq!(send("key-one").await.unwrap().status(), 200);
    }
    let details = assert_throttled(send("key-one").await.unwrap()).await;
    assert_eq!(details["limit"], "chat_per_key");
    assert_eq!(send("key-two").await.unwrap().status(), 200);
    chat.verify().await;
}
