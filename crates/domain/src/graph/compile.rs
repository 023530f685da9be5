//! Validating a definition and turning it into an [`ExecutionPlan`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};

use super::{
    Edge, ExecutionPlan, FlowDefinition, GraphFault, Node, PlanEdge, PlanNode, StepPolicy,
};
use crate::catalogue::{self, POLICY_KEYS};
use crate::{expr, path};

/// Validates `def` and compiles it; on failure returns every fault found, in document order.
pub fn compile(def: &FlowDefinition) -> Result<ExecutionPlan, Vec<GraphFault>> {
    let mut faults = Faults::default();
    let graph = check_nodes(def, &mut faults);
    check_edges(def, &graph, &mut faults);
    check_cycles(def, &graph, &mut faults);
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

/// What the edge checks need to know about the nodes.
struct Graph<'a> {
    /// First node with each id.
    by_id: HashMap<&'a str, usize>,
    trigger: Option<usize>,
}

fn node_path(i: usize) -> String {
    path::index("nodes", i)
}

fn edge_path(i: usize) -> String {
    path::index("edges", i)
}

fn check_nodes<'a>(def: &'a FlowDefinition, faults: &mut Faults) -> Graph<'a> {
    let mut graph = Graph {
        by_id: HashMap::new(),
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
        if catalogue::node_type(&node.node_type).is_none() {
            faults.push(
                place,
                path::key(&at, "type"),
                format!("unknown node type '{}'", node.node_type),
            );
            continue;
        }
        if catalogue::is_trigger(&node.node_type) {
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
            check_config(node, &path::key(&path::key(&at, "data"), "config")),
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

/// Schema, templates, expressions and the type-specific rules of one node's config.
fn check_config(node: &Node, at: &str) -> Vec<GraphFault> {
    let config = &node.data.config;
    let mut faults = match catalogue::validator(&node.node_type) {
        Some(validator) => schema_faults(validator, config, at),
        None => vec![GraphFault::new(
            at,
            "this node type has no usable config schema",
        )],
    };
    faults.extend(expr::check_templates(config, at));
    match node.node_type.as_str() {
        "action.http_request" => faults.extend(check_url(config, at)),
        "condition.if" => faults.extend(check_expression_field(config, "condition", at)),
        "trigger.event" => faults.extend(check_expression_field(config, "filter", at)),
        "condition.switch" => faults.extend(check_cases(config, at)),
        _ => {}
    }
    faults
}

fn schema_faults(validator: &jsonschema::Validator, config: &Value, at: &str) -> Vec<GraphFault> {
    let mut faults = Vec::new();
    for error in validator.iter_errors(config) {
        let here = path::from_pointer(at, error.instance_path.as_str(), config);
        match &error.kind {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                faults.push(GraphFault::new(
                    path::key(&here, name),
                    format!("{name} is required"),
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                faults.extend(unexpected.iter().map(|name| {
                    GraphFault::new(path::key(&here, name), format!("unknown field '{name}'"))
                }));
            }
            kind => faults.push(GraphFault::new(
                here,
                schema_message(kind, &error.to_string()),
            )),
        }
    }
    faults
}

fn schema_message(kind: &ValidationErrorKind, fallback: &str) -> String {
    match kind {
        ValidationErrorKind::Type {
            kind: TypeKind::Single(t),
        } => {
            let article = if matches!(
                t,
                jsonschema::JsonType::Array
                    | jsonschema::JsonType::Integer
                    | jsonschema::JsonType::Object
            ) {
                "an"
            } else {
                "a"
            };
            format!("must be {article} {t}")
        }
        ValidationErrorKind::Enum { options } => {
            let listed: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            format!("must be one of {}", listed.join(", "))
        }
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::MinItems { limit: 1 } => "must have at least one item".to_owned(),
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} items"),
        _ => fallback.to_owned(),
    }
}

/// A literal URL must be absolute http(s); a templated one is checked when it is rendered.
fn check_url(config: &Value, at: &str) -> Option<GraphFault> {
    let url = config.get("url")?.as_str()?;
    if url.is_empty() || expr::is_templated(url) || is_absolute_http_url(url) {
        return None;
    }
    Some(GraphFault::new(
        path::key(at, "url"),
        "must be an absolute http:// or https:// URL",
    ))
}

fn is_absolute_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    !host.is_empty() && !url.chars().any(char::is_whitespace)
}

fn check_expression_field(config: &Value, field: &str, at: &str) -> Option<GraphFault> {
    let source = config.get(field)?.as_str()?;
    expr::check_expression(source, &path::key(at, field))
}

/// Case conditions must parse; case handles must be unique and not shadow `default`/`error`.
fn check_cases(config: &Value, at: &str) -> Vec<GraphFault> {
    let Some(cases) = config.get("cases").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut faults = Vec::new();
    let mut seen = HashSet::new();
    for (k, case) in cases.iter().enumerate() {
        let case_at = path::index(&path::key(at, "cases"), k);
        faults.extend(check_expression_field(case, "condition", &case_at));
        let Some(handle) = case.get("handle").and_then(Value::as_str) else {
            continue;
        };
        let handle_at = path::key(&case_at, "handle");
        if matches!(handle, "default" | "error") {
            faults.push(GraphFault::new(
                handle_at,
                format!("'{handle}' is reserved"),
            ));
        } else if !seen.insert(handle) {
            faults.push(GraphFault::new(
                handle_at,
                format!("duplicate case handle '{handle}'"),
            ));
        }
    }
    faults
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
            && let Err(message) = check_handle(source, edge.source_handle.as_deref())
        {
            faults.push(place, path::key(&at, "sourceHandle"), message);
        }
    }
}

/// The handles a node's outgoing edges may leave by; `None` is the default output.
fn check_handle(node: &Node, handle: Option<&str>) -> Result<(), String> {
    let config = &node.data.config;
    let continues = config.get("on_error").and_then(Value::as_str) == Some("continue");
    if continues && handle == Some("error") {
        return Ok(());
    }
    let allowed: Vec<String> = match node.node_type.as_str() {
        "condition.if" => vec!["true".into(), "false".into()],
        "condition.switch" => config
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

fn build_plan(
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
    let plan_node = |i: usize| plan_node(def, &targets, &sources[i], &reachable, i);
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
    targets: &[Vec<(usize, &Edge)>],
    sources: &[usize],
    reachable: &[bool],
    i: usize,
) -> Result<PlanNode, GraphFault> {
    let node = &def.nodes[i];
    let (config, policy) = split_policy(node).map_err(|e| {
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
        node_type: node.node_type.clone(),
        label: node.data.label.clone(),
        config,
        policy,
        incoming,
        outgoing,
    })
}

/// Moves the policy keys out of the config. `action.http_request` keeps `timeout_ms` too,
/// since for it the step timeout is also the request timeout.
fn split_policy(node: &Node) -> Result<(Value, StepPolicy), serde_json::Error> {
    let mut config = node.data.config.as_object().cloned().unwrap_or_default();
    let mut policy = Map::new();
    for key in POLICY_KEYS {
        let value = if key == "timeout_ms" && node.node_type == "action.http_request" {
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
