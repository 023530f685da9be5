//! The matrix's table: every operation of the OpenAPI document with a path parameter,
//! its parameters, required query and body filled with A's values by name; an unknown
//! parameter is reported, not guessed.

use super::*;

/// A template of the shared catalogue.
pub(crate) const TEMPLATE: &str = "lead-capture-crm";

/// One of each of A's resources, by what the path parameters call them.
pub(crate) struct Owned {
    pub(crate) chatbot: Chatbot,
    pub(crate) faq: String,
    pub(crate) intent: String,
    pub(crate) workflow: String,
    pub(crate) version: String,
    pub(crate) execution: String,
    pub(crate) dead_letter: String,
    pub(crate) session: String,
    pub(crate) connection: String,
}

/// How a path parameter is filled for the matrix.
pub(crate) enum Fill {
    /// An id of A's: B must get 404.
    Owned(String),
    /// A name or id of something every user shares (the template catalogue):
    /// B's call must succeed, and it must not touch A's data.
    Shared(String),
    /// Not an id of anything owned; the reason is printed.
    Excluded(&'static str),
}

/// The table: every path parameter of the API, by name (and, for `id`, by the
/// collection it follows). `None` is a parameter nobody has thought about.
pub(crate) fn fill(path: &str, name: &str, a: &Owned) -> Option<Fill> {
    let owned = |s: &str| Some(Fill::Owned(s.to_string()));
    match name {
        "id" => {
            let collection = path.trim_start_matches("/api/v1/").split('/').next()?;
            match collection {
                "chatbots" => owned(&a.chatbot.id),
                "workflows" => owned(&a.workflow),
                "executions" => owned(&a.execution),
                "dead-letters" => owned(&a.dead_letter),
                "conversations" => owned(&a.session),
                "integrations" => owned(&a.connection),
                "templates" => Some(Fill::Shared(TEMPLATE.to_string())),
                _ => None,
            }
        }
        "faq_id" => owned(&a.faq),
        "intent_id" => owned(&a.intent),
        "version" => owned(&a.version),
        "session_id" => owned(&a.session),
        "execution_id" => owned(&a.execution),
        "workflow_id" => owned(&a.workflow),
        "chatbot_id" => owned(&a.chatbot.id),
        // The end user who wrote in A's conversation (the GDPR erasure).
        "email" => owned("customer@example.com"),
        "provider" => Some(Fill::Excluded(
            "a provider name (slack, ...), the same for every user; B's connect and callback act on B's own account",
        )),
        "token" => Some(Fill::Excluded(
            "the webhook token is itself the credential (no user auth by design); whoever holds it may start the run",
        )),
        _ => None,
    }
}

/// An operation of the document with a path parameter.
pub(crate) struct Operation {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) spec: Value,
}

impl Operation {
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    /// The statuses B may get for A's resource: 404, or 403 where documented.
    pub(crate) fn refusals(&self) -> Vec<u16> {
        let mut ok = vec![404];
        if self.spec["responses"].get("403").is_some() {
            ok.push(403);
        }
        ok
    }

    /// Whether a user's bearer token is one way to call it. The widget's routes
    /// take a chatbot key (and a session token) instead: who may call them is
    /// decided by the key, which chat's own tests cover (`sessions`, `widget`).
    pub(crate) fn takes_bearer(&self) -> bool {
        self.spec["security"]
            .as_array()
            .is_none_or(|all| all.iter().any(|s| s.get("bearer").is_some()))
    }

    pub(crate) fn is_stream(&self) -> bool {
        self.spec["responses"]["200"]["content"]
            .get("text/event-stream")
            .is_some()
    }
}

pub(crate) fn path_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// Every operation of the document, DELETEs last (so a delete that wrongly
/// worked cannot hide another operation's leak behind a 404).
pub(crate) fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "patch", "delete"] {
            if let Some(spec) = item.get(method) {
                ops.push(Operation {
                    method: method.to_string(),
                    path: path.clone(),
                    spec: spec.clone(),
                });
            }
        }
    }
    ops.sort_by_key(|o| (o.method == "delete", o.path.clone(), o.method.clone()));
    ops
}

pub(crate) enum Filled {
    Url(String, bool),
    Excluded(String),
}

/// The URL of `op` with A's values; `bool` says whether any is owned.
/// Unknown parameters are pushed to `unknown`.
pub(crate) fn fill_path(op: &Operation, a: &Owned, unknown: &mut Vec<String>) -> Filled {
    let mut url = op.path.clone();
    let mut owned = false;
    for name in path_params(&op.path) {
        let value = match fill(&op.path, &name, a) {
            Some(Fill::Owned(v)) => {
                owned = true;
                v
            }
            Some(Fill::Shared(v)) => v,
            Some(Fill::Excluded(reason)) => {
                return Filled::Excluded(format!("{{{name}}}: {reason}"));
            }
            None => {
                unknown.push(format!("{} has path parameter {{{name}}}", op.label()));
                return Filled::Excluded("unknown parameter".to_string());
            }
        };
        url = url.replace(&format!("{{{name}}}"), &value);
    }
    let mut query = Vec::new();
    for param in op.spec["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "query" || param["required"] != true {
            continue;
        }
        let name = param["name"].as_str().unwrap_or_default();
        match required_query(name, a) {
            Some(value) => query.push(format!("{name}={value}")),
            None => unknown.push(format!(
                "{} has required query parameter {name}",
                op.label()
            )),
        }
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    Filled::Url(url, owned)
}

/// Values of the required query parameters, by name.
pub(crate) fn required_query(name: &str, a: &Owned) -> Option<String> {
    match name {
        // The versions of a diff: A's first and second.
        "from" => Some("1".to_string()),
        "to" => Some(a.version.clone()),
        _ => None,
    }
}

/// A body B could send for a resource of its own, by the request schema's
/// name; an unknown schema gets one generated from its required properties.
pub(crate) fn body_for(op: &Operation, doc: &Value, b_bot: &str) -> Option<Value> {
    let schema = op.spec["requestBody"]["content"]["application/json"]["schema"].clone();
    if schema.is_null() {
        return None;
    }
    let name = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next());
    let known = match name {
        Some("UpdateChatbot") => json!({"name": "B's rename", "welcome_message": "Hello from B"}),
        Some("FaqBody") => json!({"question": "When do you open?", "answer": "At nine."}),
        Some("IntentBody") => json!({"name": "b_refund", "examples": ["I want my money back"]}),
        Some("RetryRequest") => json!({"from": "start"}),
        Some("InstantiateTemplate") => json!({"chatbot_id": b_bot, "name": "B's leads",
            "params": {"crm_url": "http://127.0.0.1:9/leads", "crm_api_key": "b-key"}}),
        Some("UpdateWorkflow") => json!({"name": "B's edit", "flow_definition": flow("b")}),
        Some("CopyRequest") => json!({"chatbot_id": b_bot}),
        Some("ExecuteRequest") => json!({"input": {"from": "b"}}),
        Some("RollbackRequest") => json!({"version": 1}),
        _ => generate(&schema, doc, b_bot, 0),
    };
    Some(known)
}

/// A minimal value of `schema`: required properties only, examples, defaults
/// and first enum values where given.
pub(crate) fn generate(schema: &Value, doc: &Value, b_bot: &str, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        return generate(&doc["components"]["schemas"][name], doc, b_bot, depth + 1);
    }
    for key in ["example", "default"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key].get(0) {
            return generate(first, doc, b_bot, depth + 1);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or_default(),
        other => other.clone(),
    };
    match kind.as_str() {
        Some("object") => {
            let mut out = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                let value = if name.ends_with("chatbot_id") {
                    json!(b_bot)
                } else {
                    generate(&schema["properties"][name], doc, b_bot, depth + 1)
                };
                out.insert(name.to_string(), value);
            }
            Value::Object(out)
        }
        Some("array") => json!([]),
        Some("integer" | "number") => json!(schema["minimum"].as_i64().unwrap_or(1)),
        Some("boolean") => json!(true),
        Some("string") => json!("b"),
        _ => json!({}),
    }
}
