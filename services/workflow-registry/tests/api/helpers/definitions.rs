//! Workflow definitions the tests save: nodes, edges, flows per trigger, bodies.

use serde_json::{Value, json};
use uuid::Uuid;

use super::app::PUBLIC_URL;

pub fn node(id: &str, node_type: &str, config: Value) -> Value {
    json!({
        "id": id,
        "type": node_type,
        "position": {"x": 0, "y": 0},
        "data": {"label": id, "config": config}
    })
}

pub fn edge(id: &str, source: &str, target: &str) -> Value {
    json!({"id": id, "source": source, "target": target})
}

/// A trigger of `trigger_type` followed by one `action.set`.
pub fn flow_with_trigger(trigger_type: &str, trigger_config: Value) -> Value {
    json!({
        "nodes": [
            node("start", trigger_type, trigger_config),
            node("set", "action.set", json!({"values": {"greeting": "hello"}})),
        ],
        "edges": [edge("e1", "start", "set")]
    })
}

pub fn webhook_flow() -> Value {
    flow_with_trigger("trigger.webhook", json!({}))
}

pub fn manual_flow() -> Value {
    flow_with_trigger("trigger.manual", json!({}))
}

pub fn event_flow(event_type: &str, filter: Option<&str>) -> Value {
    let mut config = json!({"event_type": event_type});
    if let Some(filter) = filter {
        config["filter"] = json!(filter);
    }
    flow_with_trigger("trigger.event", config)
}

/// The `/hooks/{token}` path of a created workflow.
pub fn hook_path(created: &Value) -> String {
    let url = created["webhook_url"].as_str().unwrap();
    url.strip_prefix(PUBLIC_URL).unwrap().to_string()
}

pub fn workflow_body(name: &str, chatbot_id: Uuid, flow: Value) -> Value {
    json!({"name": name, "chatbot_id": chatbot_id, "flow_definition": flow})
}
