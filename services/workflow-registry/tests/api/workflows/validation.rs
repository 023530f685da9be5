//! Graph validation on save: 422 INVALID_WORKFLOW at the faulty path.

use super::*;

/// Creates a workflow from `flow` and asserts 422 INVALID_WORKFLOW at `path`.
async fn assert_invalid(app: &crate::helpers::TestApp, flow: Value, path: &str) {
    let (status, body) = app
        .create_workflow(&workflow_body("bad", app.chatbot().await, flow))
        .await;
    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "INVALID_WORKFLOW");
    assert_eq!(error["details"]["path"], path, "{body}");
    assert!(
        error["details"]["faults"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["path"] == path)),
        "{body}"
    );
}

#[tokio::test]
async fn a_cycle_is_refused_at_the_closing_edge() {
    let app = spawn_app().await;
    let flow = json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("a", "action.set", json!({"values": {"x": 1}})),
            node("b", "action.set", json!({"values": {"y": 2}})),
        ],
        "edges": [edge("e0", "start", "a"), edge("e1", "a", "b"), edge("e2", "b", "a")]
    });
    assert_invalid(&app, flow, "flow_definition.edges[2]").await;
}

#[tokio::test]
async fn a_second_trigger_is_refused_at_its_type() {
    let app = spawn_app().await;
    let flow = json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("set", "action.set", json!({"values": {"x": 1}})),
            node("hook", "trigger.webhook", json!({})),
        ],
        "edges": [edge("e0", "start", "set")]
    });
    assert_invalid(&app, flow, "flow_definition.nodes[2].type").await;
}

#[tokio::test]
async fn an_edge_to_a_missing_node_is_refused_at_its_target() {
    let app = spawn_app().await;
    let flow = json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("set", "action.set", json!({"values": {"x": 1}})),
        ],
        "edges": [edge("e0", "start", "set"), edge("e1", "set", "ghost")]
    });
    assert_invalid(&app, flow, "flow_definition.edges[1].target").await;
}

#[tokio::test]
async fn an_http_request_without_url_is_refused_at_the_url() {
    let app = spawn_app().await;
    let flow = json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("call", "action.http_request", json!({"method": "GET"})),
        ],
        "edges": [edge("e0", "start", "call")]
    });
    assert_invalid(&app, flow, "flow_definition.nodes[1].data.config.url").await;
}

#[tokio::test]
async fn a_node_type_not_available_yet_is_refused_at_its_type() {
    let app = spawn_app().await;
    let flow = json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("image", "trigger.image_uploaded", json!({})),
        ],
        "edges": [edge("e0", "start", "image")]
    });
    assert_invalid(&app, flow, "flow_definition.nodes[1].type").await;
}

#[tokio::test]
async fn an_unknown_node_type_and_a_graph_without_trigger_are_refused() {
    let app = spawn_app().await;
    let unknown = json!({
        "nodes": [
            node("start", "trigger.manual", json!({})),
            node("x", "action.teleport", json!({})),
        ],
        "edges": [edge("e0", "start", "x")]
    });
    assert_invalid(&app, unknown, "flow_definition.nodes[1].type").await;
    let no_trigger = json!({
        "nodes": [node("set", "action.set", json!({"values": {"x": 1}}))],
        "edges": []
    });
    assert_invalid(&app, no_trigger, "flow_definition.nodes").await;
    // Nothing was stored.
    let (_, list) = app.list_workflows("").await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn a_blank_name_is_a_validation_error() {
    let app = spawn_app().await;

    let (status, body) = app
        .create_workflow(&workflow_body("   ", app.chatbot().await, manual_flow()))
        .await;

    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "VALIDATION_ERROR");
    assert_eq!(error["details"]["path"], "name");
}
