//! Run with: cargo test -p echoflow-gateway --test api
//!
//! Accounts and tokens: register, token, refresh (rotation), logout, /users/me.

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    PASSWORD, assert_error, closed_loopback_url, read, spawn_app, spawn_app_with, unique_email,
};

#[tokio::test]
async fn register_answers_201_with_the_new_account() {
    let app = spawn_app().await;
    let email = unique_email();

    let (status, body) = read(
        app.register(&email, PASSWORD, Some("  Ada Lovelace "))
            .await,
    )
    .await;

    assert_eq!(status, 201, "{body}");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], "Ada Lovelace");
    let created = body["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "created_at {created} is not RFC 3339"
    );
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
}

#[tokio::test]
async fn register_stores_the_email_in_lower_case() {
    let app = spawn_app().await;
    let email = unique_email();

    let (status, body) = read(app.register(&email.to_uppercase(), PASSWORD, None).await).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], Value::Null);
}

#[tokio::test]
async fn registering_a_taken_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD, None).await.status(), 201);

    let (status, body) = read(app.register(&email, "another password", None).await).await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "CONFLICT");

    let (status, body) = read(
        app.register(&email.to_uppercase(), "another password", None)
            .await,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "CONFLICT");

    // The first password still signs in: the account was not overwritten.
    assert_eq!(app.token(&email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn register_refuses_invalid_fields_with_422() {
    let app = spawn_app().await;
    let cases = [
        ("not-an-email", PASSWORD, "email"),
        ("missing-domain@", PASSWORD, "email"),
        ("user@nodot", PASSWORD, "email"),
        ("", PASSWORD, "email"),
        ("seven@example.com", "1234567", "password"),
        ("empty@example.com", "", "password"),
    ];
    for (email, password, field) in cases {
        let (status, body) = read(app.register(email, password, None).await).await;
        assert_eq!(status, 422, "{email:?}/{password:?}: {body}");
        let error = assert_error(&body, "VALIDATION_ERROR");
        assert_eq!(error["details"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn register_refuses_common_and_weak_passwords_with_422() {
    let app = spawn_app().await;
    let email = unique_email();
    let local_part = email.split('@').next().unwrap().to_string();
    for weak in [
        "password",
        "12345678",
        "password123",
        "qwertyuiop",
        "hunter2hunter2",
        local_part.as_str(),
    ] {
        let (status, body) = read(app.register(&email, weak, None).await).await;
        assert_eq!(status, 422, "{weak:?}: {body}");
        let error = assert_error(&body, "VALIDATION_ERROR");
        assert_eq!(error["details"]["field"], "password", "{body}");
        assert!(error["details"]["score"].as_u64().unwrap() < 3, "{body}");
    }
    // Nothing was created: the address is still free for a strong password.
    let (status, body) = read(app.register(&email, PASSWORD, None).await).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_with_the_error_body() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(r#"{"email": "a@b.co", "password": "#)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;

    assert_eq!(status, 400, "{body}");
    assert_error(&body, "BAD_REQUEST");
}

#[tokio::test]
async fn a_body_missing_a_required_field_is_422() {
    let app = spawn_app().await;

    let (status, body) = read(
        app.post_json(
            "/api/v1/auth/register",
            &serde_json::json!({"email": unique_email()}),
        )
        .await,
    )
    .await;

    assert_eq!(status, 422, "{body}");
    assert_error(&body, "VALIDATION_ERROR");
}

#[tokio::test]
async fn token_answers_200_with_bearer_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD, None).await.status(), 201);

    let (status, body) = read(app.token(&email, PASSWORD).await).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_ne!(body["access_token"], body["refresh_token"]);
    assert_eq!(body["expires_in"], 900);
}

#[tokio::test]
async fn token_accepts_the_email_in_another_case() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD, None).await.status(), 201);

    let (status, body) = read(app.token(&email.to_uppercase(), PASSWORD).await).await;

    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn token_with_a_wrong_password_or_unknown_user_is_401() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD, None).await.status(), 201);

    let (status, body) = read(app.token(&email, "wrong password!").await).await;
    assert_eq!(status, 401, "{body}");
    let wrong_password = assert_error(&body, "UNAUTHORIZED");
    assert!(body.get("access_token").is_none());

    let (status, body) = read(app.token(&unique_email(), PASSWORD).await).await;
    assert_eq!(status, 401, "{body}");
    let unknown_user = assert_error(&body, "UNAUTHORIZED");

    // The answer does not reveal which accounts exist.
    assert_eq!(wrong_password["message"], unknown_user["message"]);
}

#[tokio::test]
async fn users_me_needs_a_valid_access_token() {
    let app = spawn_app().await;

    let (status, body) = read(app.me(None).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");

    let (status, body) = read(app.me(Some("not.a.jwt")).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");

    // A token signed with another secret is refused too.
    let foreign = echoflow_service_kit::JwtKeys::new(
        &secrecy::SecretString::from("some-other-secret-that-is-long-enough-42"),
        900,
    )
    .issue(uuid::Uuid::new_v4(), "x@example.com")
    .unwrap();
    let (status, body) = read(app.me(Some(&foreign)).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
}

#[tokio::test]
async fn users_me_answers_the_signed_in_account() {
    let app = spawn_app().await;
    let email = unique_email();
    let (_, registered) = read(app.register(&email, PASSWORD, Some("Ada")).await).await;
    let (_, tokens) = read(app.token(&email, PASSWORD).await).await;

    let (status, body) = read(app.me(tokens["access_token"].as_str()).await).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], registered["id"]);
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], "Ada");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let (email, tokens) = app.signed_in_user().await;
    let first = tokens["refresh_token"].as_str().unwrap();

    let (status, renewed) = read(app.refresh(first).await).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["token_type"], "bearer");
    assert_eq!(renewed["expires_in"], 900);
    let second = renewed["refresh_token"].as_str().unwrap();
    assert_ne!(second, first);
    let (status, me) = read(app.me(renewed["access_token"].as_str()).await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], email);

    // The new one works, once; the old one stopped working.
    let (status, third) = read(app.refresh(second).await).await;
    assert_eq!(status, 200, "{third}");
    let (status, body) = read(app.refresh(first).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let app = spawn_app().await;
    let (email, tokens) = app.signed_in_user().await;
    let (_, other_session) = read(app.token(&email, PASSWORD).await).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let (_, second) = read(app.refresh(first).await).await;
    let (status, third) = read(app.refresh(second["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(status, 200, "{third}");

    // Someone presents the first token again: it was rotated, so it leaked.
    let (status, body) = read(app.refresh(first).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");

    // The newest token of that sign-in stops working too ...
    let (status, body) = read(app.refresh(third["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
    // ... while the same user's other sign-in is a family of its own.
    let (status, body) = read(
        app.refresh(other_session["refresh_token"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn refresh_with_an_unknown_token_is_401() {
    let app = spawn_app().await;

    let (status, body) = read(app.refresh("no-such-refresh-token").await).await;

    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
}

#[tokio::test]
async fn logout_revokes_every_refresh_token_of_the_caller() {
    let app = spawn_app().await;
    let (email, tokens) = app.signed_in_user().await;
    let (_, second_session) = read(app.token(&email, PASSWORD).await).await;
    let (_, other_user) = app.signed_in_user().await;
    let access = tokens["access_token"].as_str().unwrap();

    let response = app.logout(access).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());

    for session in [&tokens, &second_session] {
        let (status, body) = read(
            app.refresh(session["refresh_token"].as_str().unwrap())
                .await,
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_error(&body, "UNAUTHORIZED");
    }
    // Another user's session is untouched.
    let (status, body) = read(
        app.refresh(other_user["refresh_token"].as_str().unwrap())
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Signing in again works.
    assert_eq!(app.token(&email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_logged_out_access_token_is_refused_at_once_everywhere() {
    let registry = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&registry)
        .await;
    let app = spawn_app_with(&registry.uri(), &closed_loopback_url()).await;
    let (_, tokens) = app.signed_in_user().await;
    let (_, other_user) = app.signed_in_user().await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.me(Some(access)).await.status(), 200);

    assert_eq!(app.logout(access).await.status(), 204);

    let (status, body) = read(app.me(Some(access)).await).await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
    // Nor does a proxied route take it: the gateway refuses it before the service.
    let (status, body) = read(app.get_with_token("/api/v1/workflows", access).await).await;
    assert_eq!(status, 401, "{body}");
    assert!(registry.received_requests().await.unwrap().is_empty());
    let stream = app
        .get(&format!("/api/v1/executions/stream?access_token={access}"))
        .await;
    assert_eq!(stream.status(), 401);
    // Another user's token still works.
    let other = other_user["access_token"].as_str().unwrap();
    assert_eq!(app.me(Some(other)).await.status(), 200);
}

#[tokio::test]
async fn logout_without_a_token_is_401() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;

    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
}
