//! Building the plan of a checked definition: the nodes reachable from the
//! trigger in topological order, each with its edges and step policy.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use serde_json::{Map, Value};

use super::{
    Edge, ExecutionPlan, FlowDefinition, GraphFault, Node, PlanEdge, PlanNode, StepPolicy,
};
use crate::catalogue::POLICY_KEYS;
use crate::kind::NodeKind;
use crate::path;

/// What the checks and the plan builder need to know about the nodes.
pub(super) struct Graph<'a> {
    /// First node with each id.
    pub(super) by_id: HashMap<&'a str, usize>,
    /// Each node's kind, None when its type is unknown.
    pub(super) kinds: Vec<Option<NodeKind>>,
    /// The trigger node, once one is found.
    pub(super) trigger: Option<usize>,
}

/// Where node `i` is in a definition: `nodes[i]`.
pub(super) fn node_path(i: usize) -> String {
    path::index("nodes", i)
}

pub(super) fn build_plan(
    def: &FlowDefinition,
    graph: &Graph<'_>,
    trigger: usize,
) -> Result<ExecutionPlan, GraphFault> {
    // Each node's edges out and in, in edge order, found in one pass over the edges.
    let mut targets: Vec<Vec<(usize, &Edge)>> = vec![Vec::new(); def.nodes.len()];
    let mut sources: Vec<Vec<usize>> = vec![Vec::new(); def.nodes.len()];
    for e in &def.edges {
        if let (Some(&s), Some(&t)) = (
            graph.by_id.get(e.source.as_str()),
            graph.by_id.get(e.target.as_str()),
        ) {
            targets[s].push((t, e));
            sources[t].push(s);
        }
    }
    let reachable = reachable_from(&targets, trigger);
    let order = topological_order(&targets, &reachable, trigger);
    let plan_node = |i: usize| plan_node(def, graph.kinds[i], &targets, &sources[i], &reachable, i);
    Ok(ExecutionPlan {
        trigger: plan_node(trigger)?,
        nodes: order.into_iter().map(plan_node).collect::<Result<_, _>>()?,
        settings: def.settings.clone(),
    })
}

fn reachable_from(targets: &[Vec<(usize, &Edge)>], start: usize) -> Vec<bool> {
    let mut reachable = vec![false; targets.len()];
    reachable[start] = true;
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for &(t, _) in &targets[n] {
            if !reachable[t] {
                reachable[t] = true;
                queue.push_back(t);
            }
        }
    }
    reachable
}

/// Kahn's algorithm over the reachable nodes; among ready nodes the earliest in the document goes first.
fn topological_order(
    targets: &[Vec<(usize, &Edge)>],
    reachable: &[bool],
    trigger: usize,
) -> Vec<usize> {
    let mut indegree = vec![0usize; targets.len()];
    for (_, outs) in targets.iter().enumerate().filter(|(n, _)| reachable[*n]) {
        for &(t, _) in outs {
            indegree[t] += 1;
        }
    }
    let mut ready = BinaryHeap::from([Reverse(trigger)]);
    let mut order = Vec::new();
    while let Some(Reverse(n)) = ready.pop() {
        if n != trigger {
            order.push(n);
        }
        for &(t, _) in &targets[n] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(Reverse(t));
            }
        }
    }
    order
}

fn plan_node(
    def: &FlowDefinition,
    kind: Option<NodeKind>,
    targets: &[Vec<(usize, &Edge)>],
    sources: &[usize],
    reachable: &[bool],
    i: usize,
) -> Result<PlanNode, GraphFault> {
    let node = &def.nodes[i];
    // check_nodes reported an unknown type already; a plan is only built without faults.
    let kind = kind.ok_or_else(|| {
        GraphFault::new(
            path::key(&node_path(i), "type"),
            format!("unknown node type '{}'", node.node_type),
        )
    })?;
    let (config, policy) = split_policy(node, kind).map_err(|e| {
        GraphFault::new(
            format!("{}.data.config", node_path(i)),
            format!("invalid step policy: {e}"),
        )
    })?;
    // Each once, in edge order; the sets keep a node with thousands of edges linear.
    let mut seen_sources = HashSet::new();
    let incoming: Vec<String> = sources
        .iter()
        .filter(|&&s| reachable[s] && seen_sources.insert(s))
        .map(|&s| def.nodes[s].id.clone())
        .collect();
    let mut seen_edges = HashSet::new();
    let outgoing: Vec<PlanEdge> = targets[i]
        .iter()
        .map(|&(t, edge)| (edge.source_handle.as_deref().filter(|h| *h != "out"), t))
        .filter(|planned| seen_edges.insert(*planned))
        .map(|(handle, t)| PlanEdge {
            handle: handle.map(str::to_owned),
            target: def.nodes[t].id.clone(),
        })
        .collect();
    Ok(PlanNode {
        id: node.id.clone(),
        node_type: kind,
        label: node.data.label.clone(),
        config,
        policy,
        incoming,
        outgoing,
    })
}

/// Moves the policy keys out of the config. `action.http_request` keeps `timeout_ms` too,
/// since for it the step timeout is also the request timeout.
fn split_policy(node: &Node, kind: NodeKind) -> Result<(Value, StepPolicy), serde_json::Error> {
    let mut config = node.data.config.as_object().cloned().unwrap_or_default();
    let mut policy = Map::new();
    for key in POLICY_KEYS {
        let value = if key == "timeout_ms" && kind == NodeKind::ActionHttpRequest {
            config.get(key).cloned()
        } else {
            config.remove(key)
        };
        if let Some(value) = value {
            policy.insert(key.to_owned(), value);
        }
    }
    let policy = serde_json::from_value(Value::Object(policy))?;
    Ok((Value::Object(config), policy))
}
