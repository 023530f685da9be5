//! Run with: cargo test -p echoflow-workflow-registry --test api expressions
//!
//! Expressions that crashed the process when a workflow was saved are refused with 422 at
//! their path: a 6,000-deep chain overflowed the worker's stack, a `}}` inside a bare
//! condition panicked minijinja's expression parser, a constant `'x' * 100000000` was built
//! while compiling. The registry goes on answering.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, edge, node, spawn_app_on_sqlite, workflow_body};

fn set_flow(config: Value) -> Value {
    json!({
        "nodes": [node("start", "trigger.manual", json!({})), node("set", "action.set", config)],
        "edges": [edge("e1", "start", "set")]
    })
}

fn if_flow(condition: &str) -> Value {
    json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("check", "condition.if", json!({"condition": condition}))
        ],
        "edges": [edge("e1", "start", "check")]
    })
}

fn assert_refused_at(status: u16, body: &Value, path: &str, message: &str) {
    assert_eq!(status, 422, "{body}");
    let error = assert_error(body, "INVALID_WORKFLOW");
    let faults = error["details"].to_string();
    assert!(faults.contains(path), "{body}");
    assert!(
        faults.contains(message) || error["message"].to_string().contains(message),
        "{body}"
    );
}

async fn create(app: &TestApp, flow: Value) -> (u16, Value) {
    let chatbot = app.chatbot().await;
    app.create_workflow(&workflow_body("hostile", chatbot, flow))
        .await
}

#[tokio::test]
async fn expressions_that_crashed_the_process_are_refused_on_create_and_update() {
    let app = spawn_app_on_sqlite().await;
    let deep = format!("{{{{ {}1 }}}}", "-".repeat(6000));
    let (status, body) = create(&app, set_flow(json!({"values": {"v": deep}}))).await;
    assert_refused_at(
        status,
        &body,
        "flow_definition.nodes[1].data.config.values.v",
        "too deeply nested",
    );

    let piped = format!("{{{{ 'a'{} }}}}", "|upper".repeat(10_000));
    let (status, body) = create(&app, set_flow(json!({"values": {"v": piped}}))).await;
    assert_refused_at(status, &body, "values.v", "too deeply nested");

    let (status, body) = create(&app, if_flow("trigger.data.x }} b")).await;
    assert_refused_at(
        status,
        &body,
        "flow_definition.nodes[1].data.config.condition",
        "",
    );

    let (status, body) = create(
        &app,
        set_flow(json!({"values": {"v": "{{ 'x' * 100000000 }}"}})),
    )
    .await;
    assert_refused_at(status, &body, "values.v", "constant expression");

    // an update is checked the same way, and the stored version is left as it was
    let (status, created) = create(&app, set_flow(json!({"values": {"v": "{{ 1 + 1 }}"}}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, body) = app
        .update_workflow(
            id,
            &json!({"flow_definition": if_flow(&format!("{}true", "not ".repeat(10_000)))}),
        )
        .await;
    assert_refused_at(status, &body, "condition", "too deeply nested");
    let (status, current) = app.get_workflow(id).await;
    assert_eq!(status, 200);
    assert_eq!(current["version"], created["version"], "{current}");
}
