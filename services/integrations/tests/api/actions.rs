//! Run with: cargo test -p echoflow-integrations --test api actions
//!
//! The provider actions through the internal API, against fake providers.

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn slack_posts_a_message(app: TestApp) {
    let connection = app
        .connect(
            "slack",
            token_body("slack", "xoxb-1", Some("xoxe-1"), Some(43200)),
        )
        .await;
    let body = app.action_body(
        &connection,
        json!({"channel": "C123", "text": "New lead: ada@example.com"}),
    );
    Mock::given(method("POST"))
        .and(path("/slack/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-1"))
        .and(header(
            "idempotency-key",
            body["idempotency_key"].as_str().unwrap(),
        ))
        .and(body_json(
            json!({"channel": "C123", "text": "New lead: ada@example.com"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "channel": "C123", "ts": "1700000000.000100", "message": {}}),
        ))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, answer) = app.action("slack_post_message", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["output"],
        json!({"ok": true, "channel": "C123", "ts": "1700000000.000100"})
    );
}

#[tokio::test]
async fn slack_post_message_posts_with_the_bearer_token() {
    slack_posts_a_message(spawn_app().await).await;
}

#[tokio::test]
async fn slack_post_message_on_sqlite() {
    slack_posts_a_message(spawn_sqlite_app().await).await;
}

#[tokio::test]
async fn slack_errors_in_200_bodies_are_refusals() {
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "xoxb-1", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, body) = app
        .action(
            "slack_post_message",
            &app.action_body(&connection, json!({"channel": "C404", "text": "hi"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let error = assert_error(&body, "PROVIDER_REJECTED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("channel_not_found")
    );
    assert_eq!(error["details"]["provider_status"], 200);
}

#[tokio::test]
async fn sheets_append_row_appends_the_row() {
    let app = spawn_app().await;
    let connection = app
        .connect(
            "google_sheets",
            token_body(
                "google_sheets",
                "ya29.access",
                Some("1//refresh"),
                Some(3599),
            ),
        )
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/google_sheets/api/v4/spreadsheets/sheet-123/values/Leads:append",
        ))
        .and(query_param("valueInputOption", "USER_ENTERED"))
        .and(query_param("insertDataOption", "INSERT_ROWS"))
        .and(header("authorization", "Bearer ya29.access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "spreadsheetId": "sheet-123",
            "updates": {"updatedRange": "Leads!A7:C7", "updatedRows": 1, "updatedCells": 3}
        })))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, answer) = app
        .action(
            "sheets_append_row",
            &app.action_body(
                &connection,
                json!({"spreadsheet_id": "sheet-123", "range": "Leads", "values": ["Ada", "ada@example.com", 42]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["output"],
        json!({"updated_range": "Leads!A7:C7", "updated_rows": 1})
    );
    let received = app
        .received_at("/google_sheets/api/v4/spreadsheets/sheet-123/values/Leads:append")
        .await;
    assert_eq!(received.len(), 1);
    let sent: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(sent, json!({"values": [["Ada", "ada@example.com", 42]]}));
}

#[tokio::test]
async fn hubspot_creates_a_contact_and_a_rerun_finds_the_existing_one() {
    let app = spawn_app().await;
    let connection = app
        .connect(
            "hubspot",
            token_body("hubspot", "hs-1", Some("hs-r1"), Some(1800)),
        )
        .await;
    let input = json!({"email": "ada@example.com", "firstname": "Ada", "properties": {"lifecyclestage": "lead"}});
    let properties =
        json!({"email": "ada@example.com", "firstname": "Ada", "lifecyclestage": "lead"});
    Mock::given(method("POST"))
        .and(path("/hubspot/api/crm/v3/objects/contacts"))
        .and(body_json(json!({"properties": properties})))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "501", "properties": properties})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/hubspot/api/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "status": "error", "category": "CONFLICT",
            "message": "Contact already exists. Existing ID: 501"
        })))
        .expect(1)
        .mount(&app.provider)
        .await;
    let body = app.action_body(&connection, input);
    let (status, first) = app.action("hubspot_create_contact", &body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["output"]["id"], "501");
    assert_eq!(first["output"]["created"], true);
    let (status, again) = app.action("hubspot_create_contact", &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["output"]["id"], "501");
    assert_eq!(again["output"]["created"], false);
}

#[tokio::test]
async fn salesforce_creates_a_lead_at_the_instance_url() {
    let app = spawn_app().await;
    let mut tokens = token_body("salesforce", "sf-access", Some("sf-refresh"), None);
    tokens["instance_url"] = json!(format!("{}/salesforce/instance", app.provider.uri()));
    let connection = app.connect("salesforce", tokens).await;
    Mock::given(method("POST"))
        .and(path("/salesforce/instance/services/data/v60.0/sobjects/Lead"))
        .and(header("authorization", "Bearer sf-access"))
        .and(body_json(json!({"LastName": "Lovelace", "Company": "Engines Ltd", "Email": "ada@example.com", "LeadSource": "Chat"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "00Q000000000001", "success": true, "errors": []})))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, answer) = app
        .action(
            "salesforce_create_lead",
            &app.action_body(
                &connection,
                json!({"last_name": "Lovelace", "company": "Engines Ltd", "email": "ada@example.com", "fields": {"LeadSource": "Chat"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["output"],
        json!({"id": "00Q000000000001", "success": true})
    );
}

#[tokio::test]
async fn provider_failures_map_to_retryable_and_final_errors() {
    let app = spawn_app().await;
    let connection = app
        .connect(
            "hubspot",
            token_body("hubspot", "hs-1", Some("hs-r1"), Some(1800)),
        )
        .await;
    Mock::given(method("POST"))
        .and(path("/hubspot/api/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/hubspot/api/crm/v3/objects/contacts"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"
        })))
        .expect(1)
        .mount(&app.provider)
        .await;
    let body = app.action_body(&connection, json!({"email": "ada@example.com"}));
    let (status, answer) = app.action("hubspot_create_contact", &body).await;
    assert_eq!(status, 502, "{answer}");
    assert_error(&answer, "PROVIDER_UNAVAILABLE");
    let (status, answer) = app.action("hubspot_create_contact", &body).await;
    assert_eq!(status, 400, "{answer}");
    let error = assert_error(&answer, "PROVIDER_REJECTED");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Property values were not valid")
    );
    assert_eq!(error["details"]["provider_status"], 400);
    assert!(
        error["details"]["provider_body"]
            .as_str()
            .unwrap()
            .contains("VALIDATION_ERROR")
    );
}

#[tokio::test]
async fn the_connection_test_calls_a_cheap_endpoint() {
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "xoxb-1", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/api/auth.test"))
        .and(header("authorization", "Bearer xoxb-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "team": "Acme"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/api/auth.test"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    let id = connection["id"].as_str().unwrap();
    let (status, result) = app
        .post_as(&app.token, &format!("/api/v1/integrations/{id}/test"))
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["ok"], true);
    assert_eq!(result["status"], "active");
    // A revoked token without a refresh token: the test fails, and the
    // connection needs reconnecting.
    let (status, result) = app
        .post_as(&app.token, &format!("/api/v1/integrations/{id}/test"))
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["ok"], false);
    assert_eq!(result["error"]["code"], "NEEDS_RECONNECT");
    assert_eq!(result["status"], "needs_reconnect");
}
