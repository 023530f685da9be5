//! Run with: cargo test -p echoflow-workflow-registry --test api audit
//!
//! Every change to a workflow is in its owner's audit log, and only there.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, manual_flow, read, spawn_app, webhook_flow, workflow_body};

async fn audit_log(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/audit-log{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn actions(log: &Value) -> Vec<String> {
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn post(app: &TestApp, path: &str, body: &Value) -> Value {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.token)
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert!(status < 300, "{path}: {status} {body}");
    body
}

#[tokio::test]
async fn every_change_to_a_workflow_is_logged_for_its_owner() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let created = app
        .created(&workflow_body("orders", chatbot, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .update_workflow(
            &id,
            &json!({"name": "orders v2", "flow_definition": manual_flow()}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.update_workflow(&id, &json!({"is_active": false})).await;
    assert_eq!(status, 200);
    post(
        &app,
        &format!("/api/v1/workflows/{id}/rollback"),
        &json!({"version": 1}),
    )
    .await;
    post(
        &app,
        &format!("/api/v1/workflows/{id}/webhook/rotate"),
        &json!({}),
    )
    .await;
    let copy = post(
        &app,
        &format!("/api/v1/workflows/{id}/copy"),
        &json!({"chatbot_id": chatbot}),
    )
    .await;
    let (status, _) = app.delete_workflow(&id).await;
    assert_eq!(status, 204);

    let log = audit_log(&app, &app.token, &format!("?workflow_id={id}")).await;
    assert_eq!(
        actions(&log),
        [
            "workflow.deleted",
            "workflow.webhook_rotated",
            "workflow.rolled_back",
            "workflow.deactivated",
            "workflow.updated",
            "workflow.updated",
            "workflow.created",
        ],
        "{log}"
    );
    let items = log["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .all(|e| e["actor_id"] == app.user_id.to_string())
    );
    let renamed = &items[5];
    assert_eq!(
        renamed["details"]["changed"]["name"],
        json!({"from": "orders", "to": "orders v2"})
    );
    assert_eq!(renamed["details"]["version"], 2);
    assert_eq!(items[2]["details"]["restored_version"], 1);
    assert_eq!(items[2]["details"]["version"], 4);

    // The copy is logged under the new workflow, naming its origin.
    let copy_id = copy["id"].as_str().unwrap();
    let log = audit_log(&app, &app.token, &format!("?workflow_id={copy_id}")).await;
    assert_eq!(actions(&log), ["workflow.copied"]);
    assert_eq!(log["items"][0]["details"]["copied_from"], id.as_str());

    // Filter by action; the whole log counts every entry.
    let log = audit_log(&app, &app.token, "?action=workflow.updated").await;
    assert_eq!(log["total"], 2);
    let all = audit_log(&app, &app.token, "?limit=3").await;
    assert_eq!(all["total"], 8);
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    // Another user sees none of it.
    let stranger = app.token_for(Uuid::new_v4());
    let theirs = audit_log(&app, &stranger, "").await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    let theirs = audit_log(&app, &stranger, &format!("?workflow_id={id}")).await;
    assert_eq!(theirs["total"], 0);
}

#[tokio::test]
async fn a_refused_change_leaves_no_entry() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("x", app.chatbot().await, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let (status, _) = app
        .update_workflow(id, &json!({"flow_definition": {"nodes": [], "edges": []}}))
        .await;
    assert_eq!(status, 422);
    let log = audit_log(&app, &app.token, "").await;
    assert_eq!(actions(&log), ["workflow.created"]);
}
