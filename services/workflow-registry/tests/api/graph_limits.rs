//! Run with: cargo test -p echoflow-workflow-registry --test api graph_limits
//!
//! A workflow has at most `registry.max_nodes` nodes (500 by default) and
//! `registry.max_edges` edges (2000): a larger graph is refused with 422
//! INVALID_WORKFLOW at the list's path, before any of it is compiled, on
//! create and on update alike, and nothing is written.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, edge, node, spawn_app, spawn_app_on_sqlite, workflow_body,
};

/// A manual trigger followed by a chain of `action.set` nodes: `nodes` in all.
fn chain(nodes: usize) -> Value {
    let list: Vec<Value> = (0..nodes)
        .map(|i| match i {
            0 => node("n0", "trigger.manual", json!({})),
            _ => node(&format!("n{i}"), "action.set", json!({"values": {"i": i}})),
        })
        .collect();
    let edges: Vec<Value> = (1..nodes)
        .map(|i| edge(&format!("e{i}"), &format!("n{}", i - 1), &format!("n{i}")))
        .collect();
    json!({"nodes": list, "edges": edges})
}

fn assert_refused_at(status: u16, body: &Value, path: &str) {
    // Only the error: a graph that was accepted would fill the screen.
    assert_eq!(status, 422, "{}", body["error"]);
    let error = assert_error(body, "INVALID_WORKFLOW");
    assert_eq!(error["details"]["path"], path, "{body}");
}

async fn a_graph_over_the_limits_is_refused_and_nothing_is_written_on(app: TestApp) {
    let chatbot = app.chatbot().await;

    let (status, body) = app
        .create_workflow(&workflow_body("big", chatbot, chain(501)))
        .await;
    assert_refused_at(status, &body, "flow_definition.nodes");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 500 nodes"),
        "{body}"
    );

    // Few nodes, too many edges (parallel duplicates are checked later; the count first).
    let mut many_edges = chain(2);
    many_edges["edges"] = json!(
        (0..2001)
            .map(|i| edge(&format!("e{i}"), "n0", "n1"))
            .collect::<Vec<_>>()
    );
    let (status, body) = app
        .create_workflow(&workflow_body("wide", chatbot, many_edges))
        .await;
    assert_refused_at(status, &body, "flow_definition.edges");

    let (_, listed) = app.list_workflows("").await;
    assert_eq!(listed["total"], 0, "nothing was created: {listed}");

    // The limit itself is allowed.
    let created = app
        .created(&workflow_body("largest", chatbot, chain(500)))
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["version"], 1);

    let (status, body) = app
        .update_workflow(id, &json!({"flow_definition": chain(501)}))
        .await;
    assert_refused_at(status, &body, "flow_definition.nodes");
    let (_, current) = app.get_workflow(id).await;
    assert_eq!(current["version"], 1, "no version was written: {current}");
}

#[tokio::test]
async fn a_graph_over_the_limits_is_refused_and_nothing_is_written() {
    a_graph_over_the_limits_is_refused_and_nothing_is_written_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_graph_over_the_limits_is_refused_and_nothing_is_written_on_sqlite() {
    a_graph_over_the_limits_is_refused_and_nothing_is_written_on(spawn_app_on_sqlite().await).await;
}
