//! The journey itself: connect three providers, run a workflow that posts to Slack and
//! appends to a sheet, a revoked HubSpot grant, and another user kept out.

use super::*;

/// The whole journey; `other` is a second signed-up user. Returns the
/// workflow that posts to Slack and appends to the sheet.
pub async fn integrations_journey(api: &Api, other: &Api, fakes: &FakeProviders) -> Value {
    let slack = connect(api, "slack").await;
    let sheets = connect(api, "google_sheets").await;
    let hubspot = connect(api, "hubspot").await;
    let (status, list) = api.get("/api/v1/integrations").await;
    assert_eq!(status, 200, "{list}");
    let listed = list.to_string();
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    for secret in [
        SLACK_ACCESS,
        SLACK_REFRESH,
        SHEETS_ACCESS,
        SHEETS_REFRESH,
        HUBSPOT_ACCESS,
    ] {
        assert!(!listed.contains(secret), "a token is in the list: {listed}");
    }

    // A lead: posted to Slack and appended to the sheet.
    let lead = create(
        api,
        &chain(
            "lead to slack and sheets",
            api.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node("notify", "action.slack_post_message", json!({
                    "connection_id": slack["id"], "channel": "#leads",
                    "text": "New lead {{ trigger.data.body.email }}"
                })),
                node("log", "action.sheets_append_row", json!({
                    "connection_id": sheets["id"], "spreadsheet_id": "sheet-e2e", "range": "Sheet1",
                    "values": ["{{ trigger.data.body.email }}", "{{ trigger.data.body.name }}"]
                })),
            ],
        ),
    )
    .await;
    let run = hook(
        api,
        &lead,
        &json!({"email": "lea@example.com", "name": "Lea"}),
    )
    .await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let steps = execution["steps"].as_array().unwrap();
    assert_eq!(steps[0]["output"]["ts"], "1700000000.000100", "{execution}");
    assert_eq!(steps[1]["output"]["updated_rows"], 1, "{execution}");
    let posts = received(&fakes.slack, "/api/chat.postMessage").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["channel"], "#leads");
    assert_eq!(posts[0]["text"], "New lead lea@example.com");
    let rows = received(
        &fakes.google,
        "/v4/spreadsheets/sheet-e2e/values/Sheet1:append",
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["values"], json!([["lea@example.com", "Lea"]]));

    // The revoked HubSpot grant: the run fails with a clear error, the
    // connection needs reconnecting, and the workflow listening for it runs.
    let alert = create(
        api,
        &chain(
            "reconnect alert",
            api.chatbot_id(),
            vec![
                node(
                    "needs",
                    "trigger.event",
                    json!({"event_type": "integration.needs_reconnect"}),
                ),
                node(
                    "note",
                    "action.set",
                    json!({"values": {
                        "provider": "{{ trigger.data.provider }}",
                        "connection": "{{ trigger.data.connection_id }}"
                    }}),
                ),
            ],
        ),
    )
    .await;
    let crm = create(
        api,
        &chain(
            "lead to hubspot",
            api.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node(
                    "contact",
                    "action.hubspot_create_contact",
                    json!({
                        "connection_id": hubspot["id"], "email": "{{ trigger.data.body.email }}"
                    }),
                ),
            ],
        ),
    )
    .await;
    let run = hook(api, &crm, &json!({"email": "max@example.com"})).await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    let error = execution["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(error.contains("reconnect"), "{execution}");
    assert_eq!(execution["steps"][0]["attempts"], 1, "{execution}");
    let (_, list) = api.get("/api/v1/integrations").await;
    let status_of = |id: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == *id)
            .map(|c| c["status"].clone())
    };
    assert_eq!(
        status_of(&hubspot["id"]),
        Some(json!("needs_reconnect")),
        "{list}"
    );
    assert_eq!(status_of(&slack["id"]), Some(json!("active")), "{list}");
    let alerts = api.wait_runs(alert["id"].as_str().unwrap(), 1).await;
    let alert_run = api.wait_finished(alerts[0]["id"].as_str().unwrap()).await;
    assert_eq!(alert_run["status"], "completed", "{alert_run}");
    assert_eq!(
        alert_run["steps"][0]["output"]["provider"], "hubspot",
        "{alert_run}"
    );
    assert_eq!(
        alert_run["steps"][0]["output"]["connection"], hubspot["id"],
        "{alert_run}"
    );
    // Another run does not hit the token endpoint again (expect(1) above).
    let run = hook(api, &crm, &json!({"email": "max@example.com"})).await;
    assert_eq!(api.wait_finished(&run).await["status"], "failed");
    fakes.hubspot.verify().await;

    // Another user sees none of the connections and cannot use them.
    let (status, list) = other.get("/api/v1/integrations").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"], json!([]), "{list}");
    let slack_id = slack["id"].as_str().unwrap();
    let (status, body) = other
        .post(&format!("/api/v1/integrations/{slack_id}/test"), &json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        other
            .delete(&format!("/api/v1/integrations/{slack_id}"))
            .await,
        404
    );
    let (status, body) = other
        .post(
            "/api/v1/workflows",
            &chain(
                "borrowed slack",
                other.chatbot_id(),
                vec![
                    node("hook", "trigger.webhook", json!({})),
                    node(
                        "notify",
                        "action.slack_post_message",
                        json!({
                            "connection_id": slack_id, "channel": "#x", "text": "hi"
                        }),
                    ),
                ],
            ),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_WORKFLOW");
    assert_eq!(
        body["error"]["details"]["path"],
        "flow_definition.nodes[1].data.config.connection_id"
    );
    // Nor by an expression that only resolves when the step runs.
    let borrowed = create(
        other,
        &chain(
            "borrowed slack by expression",
            other.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node("notify", "action.slack_post_message", json!({
                    "connection_id": "{{ trigger.data.body.connection }}", "channel": "#x", "text": "hi"
                })),
            ],
        ),
    )
    .await;
    let run = hook(other, &borrowed, &json!({"connection": slack_id})).await;
    let execution = other.wait_finished(&run).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert!(
        execution["error"]
            .as_str()
            .unwrap_or_default()
            .contains("another user"),
        "{execution}"
    );
    assert_eq!(
        received(&fakes.slack, "/api/chat.postMessage").await.len(),
        1
    );
    lead
}
