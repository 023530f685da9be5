//! Run with: cargo test -p echoflow-workflow-registry --test api request_bodies
//!
//! A body that does not say what the caller means changes nothing: an
//! unparsable `execute` body is 400 (it used to run with no input), a `PUT`
//! without a known field is 422 (it used to write a new version).

use serde_json::json;

use crate::helpers::{
    TestApp, assert_error, manual_flow, read, spawn_app, spawn_app_on_sqlite, workflow_body,
};

async fn execute_raw(
    app: &TestApp,
    id: &str,
    body: &'static str,
    content_type: &str,
) -> (u16, serde_json::Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/workflows/{id}/execute")))
        .bearer_auth(&app.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn an_unparsable_execute_body_runs_nothing_on(app: TestApp) {
    let created = app
        .created(&workflow_body("manual", app.chatbot().await, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();

    for (body, content_type) in [
        (r#"{"input": {"a": 1"#, "application/json"),
        ("<input>1</input>", "application/xml"),
        ("input=1", "application/x-www-form-urlencoded"),
    ] {
        let (status, answer) = execute_raw(&app, id, body, content_type).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_error(&answer, "BAD_REQUEST");
    }
    for body in [r#"{"inputs": {"a": 1}}"#, "[1]", "null"] {
        let (status, answer) = execute_raw(&app, id, body, "application/json").await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_error(&answer, "VALIDATION_ERROR");
    }
    assert!(app.announced_jobs().await.is_empty(), "nothing ran");

    // An empty body is a run without input; a well-formed one runs with it.
    let (status, answer) = execute_raw(&app, id, "", "application/json").await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = app.execute(id, &json!({"input": {"a": 1}})).await;
    assert_eq!(status, 202, "{answer}");
    let job = app
        .wait_for_announcement(answer["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(crate::helpers::trigger_data(&job), json!({"a": 1}));
}

#[tokio::test]
async fn an_unparsable_execute_body_runs_nothing() {
    an_unparsable_execute_body_runs_nothing_on(spawn_app().await).await;
}

#[tokio::test]
async fn an_unparsable_execute_body_runs_nothing_on_sqlite() {
    an_unparsable_execute_body_runs_nothing_on(spawn_app_on_sqlite().await).await;
}

async fn a_put_without_a_known_field_writes_nothing_on(app: TestApp) {
    let created = app
        .created(&workflow_body("kept", app.chatbot().await, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();

    for body in [json!({"nmae": "typo"}), json!({"graph": {}}), json!({})] {
        let (status, answer) = app.update_workflow(id, &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_error(&answer, "VALIDATION_ERROR");
    }
    // A known field next to an unknown one is refused too: nothing half-applied.
    let (status, _) = app
        .update_workflow(id, &json!({"name": "renamed", "colour": "red"}))
        .await;
    assert_eq!(status, 422);

    let (_, current) = app.get_workflow(id).await;
    assert_eq!(current["version"], 1, "no new version: {current}");
    assert_eq!(current["name"], "kept");
}

#[tokio::test]
async fn a_put_without_a_known_field_writes_nothing() {
    a_put_without_a_known_field_writes_nothing_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_put_without_a_known_field_writes_nothing_on_sqlite() {
    a_put_without_a_known_field_writes_nothing_on(spawn_app_on_sqlite().await).await;
}

/// serde reads a struct from a JSON array of all its fields in order:
/// `["new name", null, null, null, null]` renamed a workflow, and a create body could be an
/// array too. Both are refused as not an object.
async fn a_body_given_as_an_array_changes_nothing_on(app: TestApp) {
    let chatbot = app.chatbot().await;
    let created = app
        .created(&workflow_body("kept", chatbot, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();

    for body in [
        json!(["renamed", null, null, null, null]),
        json!([null, "described", null, null, false]),
        json!([]),
    ] {
        let (status, answer) = app.update_workflow(id, &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_error(&answer, "VALIDATION_ERROR");
    }
    let as_array = json!(["from an array", null, chatbot, manual_flow(), true]);
    let (status, answer) = app.create_workflow(&as_array).await;
    assert_eq!(status, 422, "{answer}");
    assert_error(&answer, "VALIDATION_ERROR");

    let (_, current) = app.get_workflow(id).await;
    assert_eq!(current["version"], 1, "no new version: {current}");
    assert_eq!(current["name"], "kept");
}

#[tokio::test]
async fn a_body_given_as_an_array_changes_nothing() {
    a_body_given_as_an_array_changes_nothing_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_body_given_as_an_array_changes_nothing_on_sqlite() {
    a_body_given_as_an_array_changes_nothing_on(spawn_app_on_sqlite().await).await;
}
