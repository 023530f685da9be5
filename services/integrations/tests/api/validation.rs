//! Run with: cargo test -p echoflow-integrations --test api validation
//!
//! Bad input: unknown and unconfigured providers, bad action input, and
//! calls without the service token.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn unknown_and_unconfigured_providers_are_refused() {
    let app = spawn_app_with(vec![(
        "integrations.providers.salesforce.client_id".into(),
        String::new(),
    )])
    .await;
    let (status, body) = app
        .get_as(&app.token, "/api/v1/integrations/github/connect")
        .await;
    assert_invalid(status, &body, "provider");
    let (status, body) = app
        .get_as(&app.token, "/api/v1/integrations/salesforce/connect")
        .await;
    assert_invalid(status, &body, "provider");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );
    // Without a user token.
    let (status, body) = app
        .get_as("not-a-jwt", "/api/v1/integrations/slack/connect")
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = read(
        app.client
            .get(app.url("/api/v1/integrations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_action_input_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let slack = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    let hubspot = app
        .connect(
            "hubspot",
            token_body("hubspot", "H1", Some("HR"), Some(1800)),
        )
        .await;
    let (status, body) = app
        .action(
            "slack_post_message",
            &app.action_body(&slack, json!({"text": "no channel"})),
        )
        .await;
    assert_invalid(status, &body, "input.channel");
    let (status, body) = app
        .action(
            "slack_post_message",
            &app.action_body(&slack, json!({"channel": "C1"})),
        )
        .await;
    assert_invalid(status, &body, "input.text");
    let (status, body) = app
        .action(
            "sheets_append_row",
            &app.action_body(&slack, json!({"spreadsheet_id": "s"})),
        )
        .await;
    assert_invalid(status, &body, "input.values");
    let (status, body) = app
        .action(
            "salesforce_create_lead",
            &app.action_body(&slack, json!({"last_name": "L"})),
        )
        .await;
    assert_invalid(status, &body, "input.company");
    // A Slack action on a HubSpot connection.
    let (status, body) = app
        .action(
            "slack_post_message",
            &app.action_body(&hubspot, json!({"channel": "C1", "text": "hi"})),
        )
        .await;
    assert_invalid(status, &body, "connection_id");
    // An action that does not exist.
    let (status, body) = app
        .action("github_open_issue", &app.action_body(&slack, json!({})))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    // No such connection.
    let mut missing = app.action_body(&slack, json!({"channel": "C1", "text": "hi"}));
    missing["connection_id"] = json!(uuid::Uuid::new_v4());
    let (status, body) = app.action("slack_post_message", &missing).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        app.received_at("/slack/api/chat.postMessage")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_internal_api_needs_the_service_token() {
    let app = spawn_app().await;
    let slack = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    let id = slack["id"].as_str().unwrap();
    for token in [None, Some("wrong-token"), Some(app.token.as_str())] {
        let (status, body) = app
            .internal_get(
                token,
                &format!("/internal/connections/{id}?owner_id={}", app.user_id),
            )
            .await;
        // The platform answers a missing or wrong service token with 403
        // (service-kit's InternalCaller), as every service's internal API does.
        assert_eq!(status, 403, "{token:?}: {body}");
        assert_error(&body, "FORBIDDEN");
        let mut request = app
            .client
            .post(app.url("/internal/actions/slack_post_message"))
            .json(&app.action_body(&slack, json!({"channel": "C1", "text": "hi"})));
        if let Some(token) = token {
            request = request.header(INTERNAL_HEADER, token);
        }
        let (status, _) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 403);
    }
    assert!(
        app.received_at("/slack/api/chat.postMessage")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_routes() {
    let app = spawn_app().await;
    let (status, doc) = read(
        app.client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    for route in [
        "/api/v1/integrations",
        "/api/v1/integrations/{provider}/connect",
        "/api/v1/integrations/{provider}/callback",
        "/api/v1/integrations/{id}/test",
        "/api/v1/integrations/{id}",
    ] {
        assert!(doc["paths"].get(route).is_some(), "{route} missing");
    }
}
