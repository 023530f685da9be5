//! Run with: cargo test -p echoflow-integrations --test api tokens
//!
//! The token lifecycle: refresh before expiry and after a 401, rotated
//! refresh tokens, and a revoked grant that stops all calls.

use echoflow_integrations::store::connections;
use echoflow_integrations::tokens::open;
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// The stored (decrypted) tokens of the only connection.
async fn stored_tokens(app: &TestApp) -> (String, Option<String>) {
    let db = app.db().await;
    let row = connections::Entity::find().one(&db).await.unwrap().unwrap();
    open(&app.keyring(), &row).unwrap()
}

async fn slack_ok(app: &TestApp, bearer: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/slack/api/chat.postMessage"))
        .and(header("authorization", format!("Bearer {bearer}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.1"})),
        )
        .expect(times)
        .mount(&app.provider)
        .await;
}

fn post(app: &TestApp, connection: &serde_json::Value) -> serde_json::Value {
    app.action_body(connection, json!({"channel": "C1", "text": "hi"}))
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_first_and_the_rotated_refresh_token_is_used_next() {
    let app = spawn_app().await;
    // 60 s left, under the 120 s refresh margin: due at once.
    let connection = app
        .connect("slack", token_body("slack", "A1", Some("R1"), Some(60)))
        .await;
    app.on_refresh(
        "slack",
        "R1",
        ResponseTemplate::new(200).set_body_json(token_body("slack", "A2", Some("R2"), Some(60))),
        1,
    )
    .await;
    app.on_refresh(
        "slack",
        "R2",
        ResponseTemplate::new(200).set_body_json(token_body("slack", "A3", Some("R3"), Some(3600))),
        1,
    )
    .await;
    slack_ok(&app, "A2", 1).await;
    slack_ok(&app, "A3", 2).await;

    let (status, body) = app
        .action("slack_post_message", &post(&app, &connection))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored_tokens(&app).await, ("A2".into(), Some("R2".into())));
    let (status, body) = app
        .action("slack_post_message", &post(&app, &connection))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored_tokens(&app).await, ("A3".into(), Some("R3".into())));
    // A3 has an hour left: no refresh this time.
    let (status, body) = app
        .action("slack_post_message", &post(&app, &connection))
        .await;
    assert_eq!(status, 200, "{body}");

    let refreshes: Vec<_> = app
        .received_at("/slack/token")
        .await
        .into_iter()
        .map(|r| form_of(&r))
        .filter(|f| f["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0]["refresh_token"], "R1");
    assert_eq!(refreshes[1]["refresh_token"], "R2");
    assert_eq!(refreshes[1]["client_id"], "slack-client");
    assert_eq!(refreshes[1]["client_secret"], "slack-secret");
    let listed = &app.list().await["items"][0];
    assert!(listed["last_refreshed_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn a_401_triggers_one_refresh_and_one_retry_and_keeps_an_unrotated_refresh_token() {
    let app = spawn_app().await;
    let connection = app
        .connect(
            "hubspot",
            token_body("hubspot", "A1", Some("R1"), Some(1800)),
        )
        .await;
    Mock::given(method("POST"))
        .and(path("/hubspot/api/crm/v3/objects/contacts"))
        .and(header("authorization", "Bearer A1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"status": "error", "category": "EXPIRED_AUTHENTICATION", "message": "The OAuth token used to make this call expired"})))
        .expect(1)
        .mount(&app.provider)
        .await;
    // HubSpot-style answer without a new refresh token.
    app.on_refresh(
        "hubspot",
        "R1",
        ResponseTemplate::new(200).set_body_json(token_body("hubspot", "A2", None, Some(1800))),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/hubspot/api/crm/v3/objects/contacts"))
        .and(header("authorization", "Bearer A2"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "7", "properties": {}})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, body) = app
        .action(
            "hubspot_create_contact",
            &app.action_body(&connection, json!({"email": "a@b.co"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"]["id"], "7");
    assert_eq!(stored_tokens(&app).await, ("A2".into(), Some("R1".into())));
}

#[tokio::test]
async fn a_token_still_refused_after_the_refresh_is_a_401_without_more_retries() {
    let app = spawn_app().await;
    let mut tokens = token_body("salesforce", "A1", Some("R1"), None);
    tokens["instance_url"] = json!(format!("{}/salesforce/instance", app.provider.uri()));
    let connection = app.connect("salesforce", tokens).await;
    Mock::given(method("POST"))
        .and(path(
            "/salesforce/instance/services/data/v60.0/sobjects/Lead",
        ))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        ))
        .expect(2)
        .mount(&app.provider)
        .await;
    let mut refreshed = token_body("salesforce", "A2", None, None);
    refreshed["instance_url"] = json!(format!("{}/salesforce/instance", app.provider.uri()));
    app.on_refresh(
        "salesforce",
        "R1",
        ResponseTemplate::new(200).set_body_json(refreshed),
        1,
    )
    .await;
    let (status, body) = app
        .action(
            "salesforce_create_lead",
            &app.action_body(&connection, json!({"last_name": "L", "company": "C"})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let error = assert_error(&body, "PROVIDER_UNAUTHORIZED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Session expired")
    );
    // Not a revoked grant: the connection stays active.
    assert_eq!(app.list().await["items"][0]["status"], "active");
}

#[tokio::test]
async fn slacks_200_token_expired_triggers_a_refresh() {
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "A1", Some("R1"), Some(43200)))
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/api/chat.postMessage"))
        .and(header("authorization", "Bearer A1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "token_expired"})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    app.on_refresh(
        "slack",
        "R1",
        ResponseTemplate::new(200).set_body_json(token_body(
            "slack",
            "A2",
            Some("R2"),
            Some(43200),
        )),
        1,
    )
    .await;
    slack_ok(&app, "A2", 1).await;
    let (status, body) = app
        .action("slack_post_message", &post(&app, &connection))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"]["ts"], "1.1");
    assert_eq!(stored_tokens(&app).await, ("A2".into(), Some("R2".into())));
}

#[tokio::test]
async fn concurrent_calls_share_one_refresh() {
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "A1", Some("R1"), Some(10)))
        .await;
    app.on_refresh(
        "slack",
        "R1",
        ResponseTemplate::new(200)
            .set_body_json(token_body("slack", "A2", Some("R2"), Some(3600)))
            .set_delay(std::time::Duration::from_millis(200)),
        1,
    )
    .await;
    slack_ok(&app, "A2", 6).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let request = app
            .client
            .post(app.url("/internal/actions/slack_post_message"))
            .header(INTERNAL_HEADER, INTERNAL_TOKEN)
            .json(&post(&app, &connection));
        calls.spawn(async move { read(request.send().await.unwrap()).await });
    }
    for (status, body) in calls.join_all().await {
        assert_eq!(status, 200, "{body}");
    }
}

async fn a_revoked_grant_stops_all_calls(app: TestApp, provider: &str, revoked: ResponseTemplate) {
    let mut events = app.events();
    let (action, input) = match provider {
        "slack" => ("slack_post_message", json!({"channel": "C1", "text": "hi"})),
        _ => ("hubspot_create_contact", json!({"email": "a@b.co"})),
    };
    let connection = app
        .connect(provider, token_body(provider, "A1", Some("R1"), Some(30)))
        .await;
    app.on_refresh(provider, "R1", revoked, 1).await;
    // The provider's API is never reached.
    Mock::given(method("POST"))
        .and(path(format!("/{provider}/api/chat.postMessage")))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{provider}/api/crm/v3/objects/contacts")))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&app.provider)
        .await;
    let chatbot = Uuid::new_v4();
    let mut body = app.action_body(&connection, input);
    body["chatbot_id"] = json!(chatbot);
    let (status, answer) = app.action(action, &body).await;
    assert_eq!(status, 409, "{answer}");
    assert_error(&answer, "NEEDS_RECONNECT");
    let listed = &app.list().await["items"][0];
    assert_eq!(listed["status"], "needs_reconnect");
    assert!(listed["status_reason"].is_string());

    let event = events.next().await;
    assert_eq!(event["type"], "integration.needs_reconnect");
    assert_eq!(event["source"], "/integrations");
    assert_eq!(event["userid"], app.user_id.to_string());
    assert_eq!(event["chatbotid"], chatbot.to_string());
    assert_eq!(event["data"]["connection_id"], connection["id"]);
    assert_eq!(event["data"]["provider"], provider);
    assert_eq!(event["data"]["execution_id"], body["execution_id"]);
    assert!(event["data"]["reason"].is_string());

    // No retry storm: the next calls answer at once, without the provider.
    for _ in 0..3 {
        let (status, answer) = app
            .action(action, &app.action_body(&connection, body["input"].clone()))
            .await;
        assert_eq!(status, 409, "{answer}");
        assert_error(&answer, "NEEDS_RECONNECT");
    }
    events.assert_none().await;
    assert_eq!(
        app.received_at(&format!("/{provider}/token"))
            .await
            .iter()
            .filter(|r| form_of(r)["grant_type"] == "refresh_token")
            .count(),
        1
    );
}

#[tokio::test]
async fn an_invalid_grant_marks_the_connection_and_emits_one_event() {
    a_revoked_grant_stops_all_calls(
        spawn_app().await,
        "hubspot",
        ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "refresh token is invalid, expired or revoked"}),
        ),
    )
    .await;
}

#[tokio::test]
async fn slacks_200_invalid_refresh_token_is_a_revoked_grant() {
    a_revoked_grant_stops_all_calls(
        spawn_app().await,
        "slack",
        ResponseTemplate::new(200)
            .set_body_json(json!({"ok": false, "error": "invalid_refresh_token"})),
    )
    .await;
}

#[tokio::test]
async fn a_revoked_grant_on_sqlite() {
    a_revoked_grant_stops_all_calls(
        spawn_sqlite_app().await,
        "hubspot",
        ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})),
    )
    .await;
}

#[tokio::test]
async fn a_refresh_the_provider_cannot_answer_is_transient() {
    let app = spawn_app().await;
    // Expired already: the refresh must succeed before any call.
    let connection = app
        .connect("slack", token_body("slack", "A1", Some("R1"), Some(0)))
        .await;
    app.on_refresh("slack", "R1", ResponseTemplate::new(503), 1)
        .await;
    let (status, body) = app
        .action("slack_post_message", &post(&app, &connection))
        .await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "PROVIDER_UNAVAILABLE");
    assert_eq!(app.list().await["items"][0]["status"], "active");
}

#[tokio::test]
async fn a_token_inside_the_margin_is_used_when_its_refresh_fails_for_now() {
    let app = spawn_app().await;
    // 60 s left: due for a refresh (120 s margin) but still valid.
    let connection = app
        .connect("slack", token_body("slack", "A1", Some("R1"), Some(60)))
        .await;
    app.on_refresh("slack", "R1", ResponseTemplate::new(503), 1)
        .await;
    slack_ok(&app, "A1", 1).await;
    let (status, body) = app
        .action("slack_post_message", &post(&app, &connection))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn two_replicas_never_spend_one_refresh_token_twice() {
    let app = spawn_app().await;
    let replica = spawn_sibling(&app, Vec::new()).await;
    let connection = app
        .connect("slack", token_body("slack", "A1", Some("R1"), Some(10)))
        .await;
    // Slow enough that both replicas are refreshing at the same time.
    app.on_refresh(
        "slack",
        "R1",
        ResponseTemplate::new(200)
            .set_body_json(token_body("slack", "A2", Some("R2"), Some(3600)))
            .set_delay(std::time::Duration::from_millis(300)),
        1,
    )
    .await;
    slack_ok(&app, "A2", 6).await;
    let mut calls = tokio::task::JoinSet::new();
    for instance in [&app, &replica, &app, &replica, &app, &replica] {
        let request = instance
            .client
            .post(instance.url("/internal/actions/slack_post_message"))
            .header(INTERNAL_HEADER, INTERNAL_TOKEN)
            .json(&post(&app, &connection));
        calls.spawn(async move { read(request.send().await.unwrap()).await });
    }
    for (status, body) in calls.join_all().await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(stored_tokens(&app).await, ("A2".into(), Some("R2".into())));
}
