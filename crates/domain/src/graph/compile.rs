//! Validating a definition and turning it into an [`ExecutionPlan`].

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::build::{Graph, build_plan, node_path};
use super::config::check_config;
use super::{ExecutionPlan, FlowDefinition, GraphFault, Node};
use crate::kind::NodeKind;
use crate::path;

/// Validates `def` and compiles it; on failure returns every fault found, in document order.
pub fn compile(def: &FlowDefinition) -> Result<ExecutionPlan, Vec<GraphFault>> {
    let mut faults = Faults::default();
    let graph = check_nodes(def, &mut faults);
    check_edges(def, &graph, &mut faults);
    check_cycles(def, &graph, &mut faults);
    check_respond_nodes(def, &graph, &mut faults);
    match graph.trigger {
        Some(trigger) if faults.is_empty() => build_plan(def, &graph, trigger).map_err(|f| vec![f]),
        _ => Err(faults.into_sorted()),
    }
}

/// Faults keyed by where they occur, so they can be put in document order at the end.
#[derive(Default)]
struct Faults(Vec<(Place, GraphFault)>);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Root,
    Node(usize),
    Edge(usize),
}

impl Faults {
    fn push(&mut self, place: Place, path: impl Into<String>, message: impl Into<String>) {
        self.0.push((place, GraphFault::new(path, message)));
    }
    fn extend(&mut self, place: Place, faults: impl IntoIterator<Item = GraphFault>) {
        self.0.extend(faults.into_iter().map(|f| (place, f)));
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn into_sorted(mut self) -> Vec<GraphFault> {
        // Within one node or edge, by path: the order of JSON object keys is not to be relied on.
        self.0
            .sort_by(|(a, fa), (b, fb)| a.cmp(b).then_with(|| fa.path.cmp(&fb.path)));
        self.0.into_iter().map(|(_, f)| f).collect()
    }
}

fn edge_path(i: usize) -> String {
    path::index("edges", i)
}

fn check_nodes<'a>(def: &'a FlowDefinition, faults: &mut Faults) -> Graph<'a> {
    let mut graph = Graph {
        by_id: HashMap::new(),
        kinds: def.nodes.iter().map(|n| n.node_type.parse().ok()).collect(),
        trigger: None,
    };
    if def.nodes.is_empty() {
        faults.push(
            Place::Root,
            "nodes",
            "a workflow needs at least one node, starting with a trigger",
        );
        return graph;
    }
    for (i, node) in def.nodes.iter().enumerate() {
        let at = node_path(i);
        let place = Place::Node(i);
        if node.id.trim().is_empty() {
            faults.push(place, path::key(&at, "id"), "node id must not be empty");
        } else if graph.by_id.contains_key(node.id.as_str()) {
            faults.push(
                place,
                path::key(&at, "id"),
                format!("duplicate node id '{}'", node.id),
            );
        } else {
            graph.by_id.insert(&node.id, i);
        }
        let Some(kind) = graph.kinds[i] else {
            faults.push(
                place,
                path::key(&at, "type"),
                format!("unknown node type '{}'", node.node_type),
            );
            continue;
        };
        if kind.is_trigger() {
            match graph.trigger {
                None => graph.trigger = Some(i),
                Some(first) => faults.push(
                    place,
                    path::key(&at, "type"),
                    format!(
                        "a workflow has one trigger, and '{}' is already it",
                        def.nodes[first].id
                    ),
                ),
            }
        }
        faults.extend(
            place,
            check_config(kind, node, &path::key(&path::key(&at, "data"), "config")),
        );
    }
    if graph.trigger.is_none() {
        faults.push(
            Place::Root,
            "nodes",
            "a trigger is required (a node whose type starts with 'trigger.')",
        );
    }
    graph
}

fn check_edges(def: &FlowDefinition, graph: &Graph<'_>, faults: &mut Faults) {
    let trigger_id = graph.trigger.map(|t| def.nodes[t].id.as_str());
    let mut edge_ids = HashSet::new();
    for (i, edge) in def.edges.iter().enumerate() {
        let at = edge_path(i);
        let place = Place::Edge(i);
        if edge.id.trim().is_empty() {
            faults.push(place, path::key(&at, "id"), "edge id must not be empty");
        } else if !edge_ids.insert(edge.id.as_str()) {
            faults.push(
                place,
                path::key(&at, "id"),
                format!("duplicate edge id '{}'", edge.id),
            );
        }
        let source = graph
            .by_id
            .get(edge.source.as_str())
            .map(|&s| &def.nodes[s]);
        if source.is_none() {
            faults.push(
                place,
                path::key(&at, "source"),
                format!("edge source missing node '{}'", edge.source),
            );
        }
        if !graph.by_id.contains_key(edge.target.as_str()) {
            faults.push(
                place,
                path::key(&at, "target"),
                format!("edge targets missing node '{}'", edge.target),
            );
        } else if Some(edge.target.as_str()) == trigger_id {
            faults.push(
                place,
                path::key(&at, "target"),
                format!("no edge may lead into the trigger '{}'", edge.target),
            );
        } else if edge.source == edge.target {
            faults.push(
                place,
                path::key(&at, "target"),
                format!("edge connects node '{}' to itself", edge.target),
            );
        }
        if let Some(source) = source
            && let Err(message) = check_handle(
                source,
                graph.kinds[graph.by_id[edge.source.as_str()]],
                edge.source_handle.as_deref(),
            )
        {
            faults.push(place, path::key(&at, "sourceHandle"), message);
        }
    }
}

/// The handles a node's outgoing edges may leave by; `None` is the default output.
fn check_handle(node: &Node, kind: Option<NodeKind>, handle: Option<&str>) -> Result<(), String> {
    let config = &node.data.config;
    let continues = config.get("on_error").and_then(Value::as_str) == Some("continue");
    if continues && handle == Some("error") {
        return Ok(());
    }
    let allowed: Vec<String> = match kind {
        Some(NodeKind::ConditionIf) => vec!["true".into(), "false".into()],
        Some(NodeKind::ConditionSwitch) => config
            .get("cases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|case| {
                case.get("handle")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .chain(["default".to_owned()])
            .collect(),
        _ => match handle {
            None | Some("out") => return Ok(()),
            Some(_) => vec!["out".into()],
        },
    };
    if handle.is_some_and(|h| allowed.iter().any(|a| a == h)) {
        return Ok(());
    }
    let mut expected = allowed.join(", ");
    if continues {
        expected.push_str(", error");
    }
    Err(match handle {
        None => format!(
            "an edge from '{}' ({}) needs a sourceHandle: one of {expected}",
            node.id, node.node_type
        ),
        Some(h) => format!(
            "'{h}' is not an output of '{}'; expected one of {expected}",
            node.id
        ),
    })
}

/// `action.respond` answers a waiting webhook caller: each one is a fault
/// unless the trigger is a `trigger.webhook` with `respond: when_finished`.
fn check_respond_nodes(def: &FlowDefinition, graph: &Graph<'_>, faults: &mut Faults) {
    let trigger = graph
        .trigger
        .and_then(|t| graph.kinds[t].map(|kind| (kind, &def.nodes[t].data.config)));
    let Some(message) = crate::respond::misplaced(trigger) else {
        return;
    };
    for (i, kind) in graph.kinds.iter().enumerate() {
        if *kind == Some(NodeKind::ActionRespond) {
            faults.push(Place::Node(i), path::key(&node_path(i), "type"), &message);
        }
    }
}

/// Reports the edges that close a cycle. A depth-first walk (from the
/// trigger, then from each node not yet reached, in document order; the
/// edges of a node in document order) finds them as the edges back to a node
/// still on the walk: without them the graph has no cycle. Each node and edge
/// is visited once, so large graphs cost time in proportion to their size.
fn check_cycles(def: &FlowDefinition, graph: &Graph<'_>, faults: &mut Faults) {
    let mut successors: Vec<Vec<(usize, usize)>> = vec![Vec::new(); def.nodes.len()];
    for (i, edge) in def.edges.iter().enumerate() {
        let (Some(&s), Some(&t)) = (
            graph.by_id.get(edge.source.as_str()),
            graph.by_id.get(edge.target.as_str()),
        ) else {
            continue;
        };
        if s == t || Some(t) == graph.trigger {
            continue; // reported by check_edges
        }
        successors[s].push((t, i));
    }
    let roots = graph.trigger.into_iter().chain(0..def.nodes.len());
    let mut walk = Walk::new(def.nodes.len());
    for root in roots {
        walk.from(root, &successors, |edge, cycle| {
            let names: Vec<&str> = cycle.iter().map(|&n| def.nodes[n].id.as_str()).collect();
            faults.push(
                Place::Edge(edge),
                edge_path(edge),
                format!("edge closes a cycle: {}", cycle_text(&names)),
            );
        });
    }
}

/// An iterative depth-first walk (no recursion: a long chain must not
/// exhaust the stack).
struct Walk {
    /// Where a node stands on the current path, while it is on it.
    on_path: Vec<Option<usize>>,
    done: Vec<bool>,
}

impl Walk {
    fn new(nodes: usize) -> Self {
        Self {
            on_path: vec![None; nodes],
            done: vec![false; nodes],
        }
    }

    /// Walks from `root` (unless already walked), calling `back` with each
    /// edge that leads back onto the path and the cycle it closes (its
    /// source, then the path from its target to its source).
    fn from(
        &mut self,
        root: usize,
        successors: &[Vec<(usize, usize)>],
        mut back: impl FnMut(usize, &[usize]),
    ) {
        if self.done[root] {
            return;
        }
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        self.on_path[root] = Some(0);
        while let Some(top) = path.last_mut() {
            let node = top.0;
            let Some(&(target, edge)) = successors[node].get(top.1) else {
                self.on_path[node] = None;
                self.done[node] = true;
                path.pop();
                continue;
            };
            top.1 += 1;
            if let Some(at) = self.on_path[target] {
                let cycle: Vec<usize> = std::iter::once(node)
                    .chain(path[at..].iter().map(|&(n, _)| n))
                    .collect();
                back(edge, &cycle);
            } else if !self.done[target] {
                self.on_path[target] = Some(path.len());
                path.push((target, 0));
            }
        }
    }
}

/// `a -> b -> c -> a`; a long cycle shows its ends and how many it leaves out.
fn cycle_text(names: &[&str]) -> String {
    const SHOWN: usize = 6;
    if names.len() <= 2 * SHOWN {
        return names.join(" -> ");
    }
    let (head, tail) = (&names[..SHOWN], &names[names.len() - SHOWN..]);
    format!(
        "{} -> ... ({} more) ... -> {}",
        head.join(" -> "),
        names.len() - 2 * SHOWN,
        tail.join(" -> ")
    )
}
