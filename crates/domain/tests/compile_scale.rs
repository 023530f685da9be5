//! Run with: cargo test -p echoflow-domain --test compile_scale -- --nocapture
//!
//! Large graphs compile with work proportional to their size. Nothing here is
//! timed as an assertion: each test checks the result and prints how long
//! the compile took, for the record (see the `compile` figures in the notes).
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use echoflow_domain::{compile, parse_definition};
use serde_json::{Value, json};

const NODES: usize = 5_000;

fn node(id: &str, node_type: &str) -> Value {
    json!({"id": id, "type": node_type, "data": {"config": if node_type == "action.set" {json!({"values": {}})} else {json!({})}}})
}

/// trigger -> n1 -> n2 -> ... ; edges in chain order, or reversed.
fn chain(n: usize, reversed_edges: bool) -> Value {
    let nodes: Vec<Value> = (0..n)
        .map(|i| {
            node(
                &format!("n{i}"),
                if i == 0 {
                    "trigger.manual"
                } else {
                    "action.set"
                },
            )
        })
        .collect();
    let mut edges: Vec<Value> = (1..n)
        .map(|i| json!({"id": format!("e{i}"), "source": format!("n{}", i - 1), "target": format!("n{i}")}))
        .collect();
    if reversed_edges {
        edges.reverse();
    }
    json!({"nodes": nodes, "edges": edges})
}

fn timed_compile(
    label: &str,
    doc: &Value,
) -> Result<echoflow_domain::ExecutionPlan, Vec<echoflow_domain::GraphFault>> {
    let started = Instant::now();
    let def = parse_definition(doc).unwrap();
    let result = compile(&def);
    println!("{label}: parse + compile took {:?}", started.elapsed());
    result
}

#[test]
fn a_long_chain_compiles_in_order() {
    for reversed in [false, true] {
        let plan = timed_compile(
            &format!("{NODES}-node chain (edges reversed: {reversed})"),
            &chain(NODES, reversed),
        )
        .unwrap();
        assert_eq!(plan.nodes.len(), NODES - 1);
        assert_eq!(plan.nodes[0].id, "n1");
        assert_eq!(plan.nodes[NODES - 2].id, format!("n{}", NODES - 1));
        assert_eq!(plan.nodes[10].incoming, ["n10"]);
    }
}

#[test]
fn twice_the_nodes_take_about_twice_the_time() {
    // Printed, not asserted: compare the two lines (quadratic work took 4x).
    for n in [NODES, 2 * NODES] {
        let plan =
            timed_compile(&format!("{n}-node chain, edges reversed"), &chain(n, true)).unwrap();
        assert_eq!(plan.nodes.len(), n - 1);
    }
}

#[test]
fn a_long_cycle_is_reported_once() {
    let mut doc = chain(NODES, true);
    doc["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "back", "source": format!("n{}", NODES - 1), "target": "n1"}));
    let faults = timed_compile(&format!("{NODES}-node cycle"), &doc).unwrap_err();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert!(
        faults[0].message.starts_with("edge closes a cycle"),
        "{faults:?}"
    );
}

#[test]
fn a_wide_fan_out_and_in_compiles() {
    // trigger -> n1..n(N-2) -> merge: one node with thousands of edges in and out.
    let n = NODES;
    let mut nodes: Vec<Value> = vec![node("t", "trigger.manual"), node("m", "flow.merge")];
    let mut edges = Vec::new();
    for i in 1..n - 1 {
        nodes.push(node(&format!("n{i}"), "action.set"));
        edges.push(json!({"id": format!("a{i}"), "source": "t", "target": format!("n{i}")}));
        edges.push(json!({"id": format!("b{i}"), "source": format!("n{i}"), "target": "m"}));
    }
    let plan = timed_compile(
        &format!("{n}-node fan-out/fan-in"),
        &json!({"nodes": nodes, "edges": edges}),
    )
    .unwrap();
    assert_eq!(plan.nodes.len(), n - 1);
    assert_eq!(plan.node("m").unwrap().incoming.len(), n - 2);
    assert_eq!(plan.trigger.outgoing.len(), n - 2);
}
