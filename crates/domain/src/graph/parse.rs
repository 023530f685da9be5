//! Reading a definition from JSON by hand, so a type fault names its exact path.

use serde_json::{Map, Value};

use super::{Edge, FlowDefinition, GraphFault, Node, NodeData, Position};
use crate::path;

/// Parses a definition, reporting every type fault with its path (`nodes[1].id`).
/// A fault at the document root has the empty path.
pub fn parse_definition(v: &Value) -> Result<FlowDefinition, Vec<GraphFault>> {
    let mut faults = Vec::new();
    let Some(root) = v.as_object() else {
        return Err(vec![GraphFault::new(
            "",
            "definition must be an object with nodes and edges",
        )]);
    };
    let nodes = list(root, "nodes", &mut faults, node);
    let edges = list(root, "edges", &mut faults, edge);
    let settings = settings(root, &mut faults);
    if faults.is_empty() {
        Ok(FlowDefinition {
            nodes,
            edges,
            settings,
        })
    } else {
        Err(faults)
    }
}

fn settings(root: &Map<String, Value>, faults: &mut Vec<GraphFault>) -> super::WorkflowSettings {
    let mut settings = super::WorkflowSettings::default();
    let Some(raw) = root.get("settings").filter(|v| !v.is_null()) else {
        return settings;
    };
    let Some(obj) = raw.as_object() else {
        faults.push(GraphFault::new("settings", "must be an object"));
        return settings;
    };
    for (key, value) in obj {
        match key.as_str() {
            "max_concurrency" => match value.as_u64() {
                Some(n)
                    if (1..=u64::from(super::WorkflowSettings::MAX_CONCURRENCY)).contains(&n) =>
                {
                    settings.max_concurrency = u32::try_from(n).ok();
                }
                _ if value.is_null() => {}
                _ => faults.push(GraphFault::new(
                    "settings.max_concurrency",
                    "must be an integer from 1 to 1000",
                )),
            },
            "error_workflow_id" => match value.as_str().map(uuid::Uuid::parse_str) {
                Some(Ok(id)) => settings.error_workflow_id = Some(id),
                _ if value.is_null() => {}
                _ => faults.push(GraphFault::new(
                    "settings.error_workflow_id",
                    "must be a workflow id (UUID)",
                )),
            },
            other => faults.push(GraphFault::new(
                format!("settings.{other}"),
                "unknown setting",
            )),
        }
    }
    settings
}

type Item<T> = fn(&Map<String, Value>, &str, &mut Vec<GraphFault>) -> Option<T>;

fn list<T>(
    root: &Map<String, Value>,
    name: &str,
    faults: &mut Vec<GraphFault>,
    item: Item<T>,
) -> Vec<T> {
    match root.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let at = path::index(name, i);
                match v.as_object() {
                    Some(obj) => item(obj, &at, faults),
                    None => {
                        faults.push(GraphFault::new(at, "must be an object"));
                        None
                    }
                }
            })
            .collect(),
        Some(_) => {
            faults.push(GraphFault::new(name, "must be an array"));
            Vec::new()
        }
    }
}

fn node(obj: &Map<String, Value>, at: &str, faults: &mut Vec<GraphFault>) -> Option<Node> {
    let before = faults.len();
    let id = required_string(obj, "id", at, faults);
    let node_type = required_string(obj, "type", at, faults);
    let position = position(obj.get("position"), &path::key(at, "position"), faults);
    let data = data(obj.get("data"), &path::key(at, "data"), faults);
    (faults.len() == before).then(|| Node {
        id: id.unwrap_or_default(),
        node_type: node_type.unwrap_or_default(),
        position,
        data,
    })
}

fn edge(obj: &Map<String, Value>, at: &str, faults: &mut Vec<GraphFault>) -> Option<Edge> {
    let before = faults.len();
    let id = required_string(obj, "id", at, faults);
    let source = required_string(obj, "source", at, faults);
    let target = required_string(obj, "target", at, faults);
    let source_handle = optional_string(obj, "sourceHandle", at, faults);
    let extra = rest(obj, &["id", "source", "target", "sourceHandle"]);
    (faults.len() == before).then(|| Edge {
        id: id.unwrap_or_default(),
        source: source.unwrap_or_default(),
        target: target.unwrap_or_default(),
        source_handle,
        extra,
    })
}

fn position(v: Option<&Value>, at: &str, faults: &mut Vec<GraphFault>) -> Position {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Position::default();
    };
    let Some(obj) = v.as_object() else {
        faults.push(GraphFault::new(at, "must be an object with x and y"));
        return Position::default();
    };
    let mut coordinate = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => 0.0,
        Some(Value::Number(n)) => n.as_f64().unwrap_or_default(),
        Some(_) => {
            faults.push(GraphFault::new(path::key(at, name), "must be a number"));
            0.0
        }
    };
    Position {
        x: coordinate("x"),
        y: coordinate("y"),
    }
}

fn data(v: Option<&Value>, at: &str, faults: &mut Vec<GraphFault>) -> NodeData {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return NodeData::default();
    };
    let Some(obj) = v.as_object() else {
        faults.push(GraphFault::new(at, "must be an object"));
        return NodeData::default();
    };
    let label = optional_string(obj, "label", at, faults).unwrap_or_default();
    let config = match obj.get("config") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(config @ Value::Object(_)) => config.clone(),
        Some(_) => {
            faults.push(GraphFault::new(
                path::key(at, "config"),
                "must be an object",
            ));
            Value::Object(Map::new())
        }
    };
    NodeData {
        label,
        config,
        extra: rest(obj, &["label", "config"]),
    }
}

fn required_string(
    obj: &Map<String, Value>,
    name: &str,
    at: &str,
    faults: &mut Vec<GraphFault>,
) -> Option<String> {
    match obj.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => {
            faults.push(GraphFault::new(
                path::key(at, name),
                format!("{name} is required"),
            ));
            None
        }
        Some(_) => {
            faults.push(GraphFault::new(path::key(at, name), "must be a string"));
            None
        }
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    name: &str,
    at: &str,
    faults: &mut Vec<GraphFault>,
) -> Option<String> {
    match obj.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => None,
        Some(_) => {
            faults.push(GraphFault::new(path::key(at, name), "must be a string"));
            None
        }
    }
}

fn rest(obj: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_faults_name_their_path() {
        let faults = parse_definition(&json!({
            "nodes": [
                {"id": "a", "type": "trigger.manual"},
                {"type": "action.set", "position": {"x": "left"}},
                "oops",
                {"id": 3, "type": "action.set", "data": {"label": 1, "config": []}}
            ],
            "edges": [{"id": "e", "source": "a"}]
        }))
        .unwrap_err();
        let paths: Vec<_> = faults.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "nodes[1].id",
                "nodes[1].position.x",
                "nodes[2]",
                "nodes[3].id",
                "nodes[3].data.label",
                "nodes[3].data.config",
                "edges[0].target"
            ]
        );
        assert_eq!(faults[0].message, "id is required");
        assert_eq!(parse_definition(&json!([])).unwrap_err()[0].path, "");
        assert_eq!(
            parse_definition(&json!({"edges": {}})).unwrap_err()[0].path,
            "edges"
        );
    }

    #[test]
    fn round_trips_react_flow_extras() {
        let doc = json!({
            "nodes": [{"id": "a", "type": "trigger.manual", "position": {"x": 1.5, "y": 2.0},
                       "data": {"label": "Start", "config": {"x": 1}, "icon": "bolt"}}],
            "edges": [{"id": "e", "source": "a", "target": "b", "sourceHandle": "true", "animated": true}]
        });
        let def = parse_definition(&doc).unwrap();
        assert_eq!(def.nodes[0].data.extra["icon"], json!("bolt"));
        assert_eq!(def.edges[0].extra["animated"], json!(true));
        assert_eq!(serde_json::to_value(&def).unwrap(), doc);
        let via_serde: FlowDefinition = serde_json::from_value(doc).unwrap();
        assert_eq!(via_serde, def);
        let minimal = parse_definition(&json!({"nodes": [{"id": "a", "type": "t"}]})).unwrap();
        assert_eq!(minimal.nodes[0].data.config, json!({}));
        assert!(minimal.edges.is_empty());
    }
}
