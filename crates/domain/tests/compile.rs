//! Run with: cargo test -p echoflow-domain --test compile
#![allow(clippy::unwrap_used)]

use echoflow_domain::{
    Backoff, ExecutionPlan, GraphFault, OnError, PlanEdge, compile, parse_definition,
};
use serde_json::{Value, json};

fn node(id: &str, node_type: &str, config: Value) -> Value {
    json!({"id": id, "type": node_type, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

fn edge(id: &str, source: &str, target: &str, handle: Option<&str>) -> Value {
    let mut e = json!({"id": id, "source": source, "target": target});
    if let Some(h) = handle {
        e["sourceHandle"] = json!(h);
    }
    e
}

fn compile_json(doc: Value) -> Result<ExecutionPlan, Vec<GraphFault>> {
    compile(&parse_definition(&doc).unwrap())
}

fn fault_paths(doc: Value) -> Vec<String> {
    compile_json(doc)
        .unwrap_err()
        .into_iter()
        .map(|f| f.path)
        .collect()
}

/// webhook -> http -> if -(true)-> set_ok, -(false)-> set_bad; plus an orphan node.
fn valid_flow() -> Value {
    json!({
        "nodes": [
            node("set_ok", "action.set", json!({"values": {"total": "{{ steps.call.output.body.total }}"}})),
            node("hook", "trigger.webhook", json!({})),
            node("if_ok", "condition.if", json!({"condition": "steps.call.output.status == 200"})),
            node("call", "action.http_request", json!({
                "method": "POST",
                "url": "https://api.example.com/orders",
                "headers": {"Authorization": "Bearer {{ trigger.data.headers.token }}"},
                "body": {"id": "{{ trigger.data.body.id }}"},
                "timeout_ms": 5000,
                "retry": {"max_attempts": 3, "backoff": "exponential", "delay_ms": 200, "max_delay_ms": 1000},
                "on_error": "continue"
            })),
            node("set_bad", "action.set", json!({"values": {"ok": false}, "on_error": "fail"})),
            node("orphan", "action.delay", json!({"duration_ms": 10}))
        ],
        "edges": [
            edge("e1", "hook", "call", None),
            edge("e2", "call", "if_ok", Some("out")),
            edge("e3", "if_ok", "set_ok", Some("true")),
            edge("e4", "if_ok", "set_bad", Some("false")),
            edge("e5", "call", "set_bad", Some("error")),
            edge("e6", "orphan", "set_ok", None)
        ]
    })
}

#[test]
fn valid_flow_compiles_in_topological_order() {
    let plan = compile_json(valid_flow()).unwrap();
    assert_eq!(plan.trigger.id, "hook");
    assert_eq!(plan.trigger.node_type, "trigger.webhook");
    let order: Vec<&str> = plan.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(order, ["call", "if_ok", "set_ok", "set_bad"]);
    assert!(
        plan.node("orphan").is_none(),
        "unreachable nodes stay out of the plan"
    );

    let if_ok = plan.node("if_ok").unwrap();
    assert_eq!(
        if_ok.outgoing,
        [
            PlanEdge {
                handle: Some("true".into()),
                target: "set_ok".into()
            },
            PlanEdge {
                handle: Some("false".into()),
                target: "set_bad".into()
            },
        ]
    );
    let call = plan.node("call").unwrap();
    assert_eq!(
        call.outgoing,
        [
            PlanEdge {
                handle: None,
                target: "if_ok".into()
            },
            PlanEdge {
                handle: Some("error".into()),
                target: "set_bad".into()
            },
        ]
    );
    assert_eq!(call.incoming, ["hook"]);
    assert_eq!(plan.node("set_bad").unwrap().incoming, ["if_ok", "call"]);
    assert_eq!(
        plan.node("set_ok").unwrap().incoming,
        ["if_ok"],
        "orphan is not an input"
    );
    assert_eq!(call.label, "call");
}

#[test]
fn policy_moves_out_of_the_config() {
    let plan = compile_json(valid_flow()).unwrap();
    let call = plan.node("call").unwrap();
    assert_eq!(call.policy.on_error, OnError::Continue);
    assert_eq!(call.policy.timeout_ms, Some(5000));
    let retry = call.policy.retry.as_ref().unwrap();
    assert_eq!(
        (retry.max_attempts, retry.backoff, retry.delay_ms),
        (3, Backoff::Exponential, 200)
    );
    assert_eq!(retry.max_delay_ms, Some(1000));
    assert!(call.config.get("retry").is_none() && call.config.get("on_error").is_none());
    assert_eq!(
        call.config["timeout_ms"],
        json!(5000),
        "http keeps its request timeout"
    );
    assert_eq!(call.config["method"], json!("POST"));
    let set_bad = plan.node("set_bad").unwrap();
    assert_eq!(set_bad.config, json!({"values": {"ok": false}}));
    assert_eq!(set_bad.policy.on_error, OnError::Fail);
    assert!(plan.node("if_ok").unwrap().policy.retry.is_none());
}

#[test]
fn plan_round_trips_through_json() {
    let plan = compile_json(valid_flow()).unwrap();
    let back: ExecutionPlan = serde_json::from_value(serde_json::to_value(&plan).unwrap()).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn ties_follow_document_order() {
    let plan = compile_json(json!({
        "nodes": [
            node("m", "flow.merge", json!({})),
            node("b", "action.set", json!({"values": {}})),
            node("t", "trigger.manual", json!({})),
            node("a", "action.set", json!({"values": {}}))
        ],
        "edges": [edge("1", "t", "a", None), edge("2", "t", "b", None), edge("3", "a", "m", None), edge("4", "b", "m", None)]
    }))
    .unwrap();
    let order: Vec<&str> = plan.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(order, ["b", "a", "m"]);
    assert_eq!(
        plan.node("m").unwrap().incoming,
        ["a", "b"],
        "in edge order"
    );
}

#[test]
fn cycle_is_reported_on_the_closing_edge() {
    let faults = compile_json(json!({
        "nodes": [
            node("t", "trigger.manual", json!({})),
            node("a", "action.set", json!({"values": {}})),
            node("b", "action.set", json!({"values": {}}))
        ],
        "edges": [edge("1", "t", "a", None), edge("2", "a", "b", None), edge("3", "b", "a", None)]
    }))
    .unwrap_err();
    assert_eq!(
        faults,
        [GraphFault::new(
            "edges[2]",
            "edge closes a cycle: b -> a -> b"
        )]
    );
}

#[test]
fn two_triggers_name_the_first() {
    let faults = compile_json(json!({
        "nodes": [
            node("hook", "trigger.webhook", json!({})),
            node("a", "action.set", json!({"values": {}})),
            node("manual", "trigger.manual", json!({}))
        ],
        "edges": []
    }))
    .unwrap_err();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].path, "nodes[2].type");
    assert!(
        faults[0].message.contains("'hook'"),
        "{}",
        faults[0].message
    );
}

#[test]
fn no_trigger_and_no_nodes() {
    let faults = compile_json(json!({"nodes": [node("a", "action.set", json!({"values": {}}))]}))
        .unwrap_err();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].path, "nodes");
    assert!(faults[0].message.contains("trigger is required"));
    assert_eq!(fault_paths(json!({"nodes": []})), ["nodes"]);
}

#[test]
fn edges_to_missing_nodes() {
    let faults = compile_json(json!({
        "nodes": [node("t", "trigger.manual", json!({})), node("a", "flow.merge", json!({}))],
        "edges": [edge("1", "t", "ghost", None), edge("2", "nobody", "a", None)]
    }))
    .unwrap_err();
    assert_eq!(
        faults[0],
        GraphFault::new("edges[0].target", "edge targets missing node 'ghost'")
    );
    assert_eq!(
        faults[1],
        GraphFault::new("edges[1].source", "edge source missing node 'nobody'")
    );
    assert_eq!(faults.len(), 2);
}

#[test]
fn edge_rules() {
    let paths = fault_paths(json!({
        "nodes": [
            node("t", "trigger.manual", json!({})),
            node("a", "action.set", json!({"values": {}})),
            node("a", "action.set", json!({"values": {}}))
        ],
        "edges": [
            edge("1", "t", "a", None),
            edge("1", "a", "t", None),
            edge("3", "a", "a", None)
        ]
    }));
    assert_eq!(
        paths,
        [
            "nodes[2].id",
            "edges[1].id",
            "edges[1].target",
            "edges[2].target"
        ]
    );
}

#[test]
fn bad_config_points_at_the_field() {
    let faults = compile_json(json!({
        "nodes": [
            node("t", "trigger.webhook", json!({})),
            node("s", "action.set", json!({"values": {}})),
            node("call", "action.http_request", json!({"method": "GET", "headers": {"X-N": 1}, "retry": {"max_attempts": 11}}))
        ],
        "edges": [edge("1", "t", "s", None), edge("2", "s", "call", None)]
    }))
    .unwrap_err();
    let found: Vec<(&str, &str)> = faults
        .iter()
        .map(|f| (f.path.as_str(), f.message.as_str()))
        .collect();
    assert!(
        found.contains(&("nodes[2].data.config.url", "url is required")),
        "{found:?}"
    );
    assert!(
        found.contains(&("nodes[2].data.config.headers.X-N", "must be a string")),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "nodes[2].data.config.retry.max_attempts",
            "must be at most 10"
        )),
        "{found:?}"
    );
    assert_eq!(faults.len(), 3, "{found:?}");
}

#[test]
fn typos_enums_and_urls_are_caught() {
    let faults = compile_json(json!({
        "nodes": [
            node("t", "trigger.manual", json!({"extra": 1})),
            node("call", "action.http_request", json!({"method": "FETCH", "url": "ftp://example.com"})),
            node("tpl", "action.http_request", json!({"method": "GET", "url": "{{ trigger.data.url }}"})),
            node("rel", "action.http_request", json!({"method": "GET", "url": "/relative"})),
            node("d", "action.delay", json!({"duration_ms": 86_400_001, "on_error": "ignore"})),
            node("sw", "condition.switch", json!({"cases": []}))
        ],
        "edges": []
    }))
    .unwrap_err();
    let found: Vec<(&str, &str)> = faults
        .iter()
        .map(|f| (f.path.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("nodes[0].data.config.extra", "unknown field 'extra'"),
            (
                "nodes[1].data.config.method",
                r#"must be one of "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD""#
            ),
            (
                "nodes[1].data.config.url",
                "must be an absolute http:// or https:// URL"
            ),
            (
                "nodes[3].data.config.url",
                "must be an absolute http:// or https:// URL"
            ),
            (
                "nodes[4].data.config.duration_ms",
                "must be at most 86400000"
            ),
            (
                "nodes[4].data.config.on_error",
                r#"must be one of "fail", "continue""#
            ),
            ("nodes[5].data.config.cases", "must have at least one item"),
        ]
    );
}

#[test]
fn handles_are_checked_per_node_type() {
    let doc = json!({
        "nodes": [
            node("t", "trigger.manual", json!({})),
            node("if", "condition.if", json!({"condition": "trigger.data.x > 1"})),
            node("sw", "condition.switch", json!({"cases": [{"handle": "vip", "condition": "trigger.data.vip"}]})),
            node("a", "action.set", json!({"values": {}})),
            node("b", "action.set", json!({"values": {}}))
        ],
        "edges": [
            edge("1", "t", "if", None),
            edge("2", "if", "sw", Some("yes")),
            edge("3", "if", "a", None),
            edge("4", "sw", "a", Some("vip")),
            edge("5", "sw", "b", Some("default")),
            edge("6", "sw", "b", Some("gold")),
            edge("7", "a", "b", Some("error")),
            edge("8", "t", "a", Some("out"))
        ]
    });
    let faults = compile_json(doc).unwrap_err();
    let paths: Vec<&str> = faults.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "edges[1].sourceHandle",
            "edges[2].sourceHandle",
            "edges[5].sourceHandle",
            "edges[6].sourceHandle"
        ]
    );
    assert!(
        faults[0].message.contains("true, false"),
        "{}",
        faults[0].message
    );
    assert!(
        faults[2].message.contains("vip, default"),
        "{}",
        faults[2].message
    );
}

#[test]
fn unknown_type() {
    let faults = compile_json(json!({
        "nodes": [node("t", "trigger.manual", json!({})), node("x", "action.teleport", json!({}))],
        "edges": [edge("1", "t", "x", None)]
    }))
    .unwrap_err();
    assert_eq!(
        faults,
        [GraphFault::new(
            "nodes[1].type",
            "unknown node type 'action.teleport'"
        )]
    );
}

#[test]
fn bad_templates_and_expressions() {
    let faults = compile_json(json!({
        "nodes": [
            node("t", "trigger.event", json!({"event_type": "custom.x", "filter": "event.data.x =="})),
            node("s", "action.set", json!({"values": {"total": "{{ steps.a.output.total + }}", "fine": "{{ 1 }}"}})),
            node("if", "condition.if", json!({"condition": "{% if %}"})),
            node("sw", "condition.switch", json!({"cases": [
                {"handle": "a", "condition": "x >"}, {"handle": "a", "condition": "y"}, {"handle": "default", "condition": "z"}
            ]}))
        ],
        "edges": [edge("1", "t", "s", None)]
    }))
    .unwrap_err();
    let paths: Vec<&str> = faults.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "nodes[0].data.config.filter",
            "nodes[1].data.config.values.total",
            "nodes[2].data.config.condition",
            "nodes[3].data.config.cases[0].condition",
            "nodes[3].data.config.cases[1].handle",
            "nodes[3].data.config.cases[2].handle",
        ]
    );
    assert!(
        faults[1].message.contains("syntax error"),
        "{}",
        faults[1].message
    );
}

#[test]
fn every_fault_is_reported_at_once() {
    let paths = fault_paths(json!({
        "nodes": [
            node("t", "trigger.manual", json!({})),
            node("x", "action.nope", json!({})),
            node("c", "action.http_request", json!({"method": "GET"}))
        ],
        "edges": [edge("1", "t", "missing", None), edge("2", "t", "c", Some("weird"))]
    }));
    assert_eq!(
        paths,
        [
            "nodes[1].type",
            "nodes[2].data.config.url",
            "edges[0].target",
            "edges[1].sourceHandle"
        ]
    );
}
