//! The rules every operation of the contract keeps, checked over a whole
//! document: what a client generator needs (a unique, meaningful
//! operationId, tags), what a caller needs (which credentials, every error
//! answer in the one error body) and constraints on every path parameter.
//! `faults` lists every breach; the app's test runs it over the document
//! `echoflow openapi` prints, so a route added without these fails there.

use serde_json::{Map, Value};

use super::conventions::{ERROR_SCHEMA, METHODS};

/// One operation of a document: where it is and what it says.
pub struct Operation<'a> {
    pub method: &'static str,
    pub path: &'a str,
    pub op: &'a Map<String, Value>,
}

impl<'a> Operation<'a> {
    pub fn label(&self) -> String {
        format!("{} {}", self.method.to_ascii_uppercase(), self.path)
    }

    pub fn operation_id(&self) -> Option<&'a str> {
        self.op.get("operationId").and_then(Value::as_str)
    }

    /// Whether the operation can be called with no credentials at all
    /// (its `security` holds the empty requirement `{}`).
    pub fn is_anonymous(&self) -> bool {
        self.op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|reqs| {
                reqs.iter()
                    .any(|r| r.as_object().is_some_and(Map::is_empty))
            })
    }
}

/// Every operation of `doc`, in path order.
pub fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let mut found = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method).and_then(Value::as_object) {
                    found.push(Operation { method, path, op });
                }
            }
        }
    }
    found
}

/// Every breach of the rules in `doc`, one line each, naming the operation.
pub fn faults(doc: &Value) -> Vec<String> {
    let mut faults = Vec::new();
    let declared_tags: Vec<&str> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    let schemes = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object);
    let mut seen_ids = std::collections::BTreeMap::<&str, String>::new();
    for operation in operations(doc) {
        let label = operation.label();
        let mut fault = |what: String| faults.push(format!("{label}: {what}"));
        match operation.operation_id() {
            None => fault("no operationId".into()),
            Some(id) => {
                if !is_meaningful_id(id) {
                    fault(format!(
                        "operationId `{id}` is not lowerCamelCase verb + noun (e.g. listWorkflows)"
                    ));
                }
                if let Some(other) = seen_ids.insert(id, label.clone()) {
                    fault(format!("operationId `{id}` is also {other}'s"));
                }
            }
        }
        let tags = operation.op.get("tags").and_then(Value::as_array);
        if tags.is_none_or(|t| t.is_empty()) {
            fault("no tags".into());
        }
        for tag in tags.into_iter().flatten().filter_map(Value::as_str) {
            if !declared_tags.contains(&tag) {
                fault(format!(
                    "tag `{tag}` is not declared in the document's tags"
                ));
            }
        }
        match operation.op.get("security").and_then(Value::as_array) {
            None => fault(
                "no `security`: name the credentials it needs, or `security(())` if it needs none"
                    .into(),
            ),
            Some(reqs) => {
                for name in reqs.iter().filter_map(Value::as_object).flat_map(Map::keys) {
                    if schemes.is_none_or(|s| !s.contains_key(name)) {
                        fault(format!("security scheme `{name}` is not defined"));
                    }
                }
            }
        }
        for (status, answer) in operation
            .op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let is_error = status.starts_with('4') || status.starts_with('5');
            if is_error && !answers_with_error_body(doc, answer) {
                fault(format!(
                    "the {status} answer is not in the `{ERROR_SCHEMA}` body"
                ));
            }
        }
        if operation
            .op
            .get("responses")
            .and_then(|r| r.get("500"))
            .is_none()
        {
            fault("no 500 answer".into());
        }
        for param in path_parameters(operation.path) {
            match declared_parameter(doc, operation.op, param) {
                None => fault(format!("path parameter `{param}` is not declared")),
                Some(p) if p["required"] != Value::Bool(true) => {
                    fault(format!("path parameter `{param}` is not required"))
                }
                Some(p) if !is_constrained(&p["schema"]) => fault(format!(
                    "path parameter `{param}` has no constraint (format, pattern, enum, maxLength or a bound)"
                )),
                Some(_) => {}
            }
        }
    }
    faults
}

/// lowerCamelCase of at least two words: `listWorkflows`, not `list` or `rotate_key`.
fn is_meaningful_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric())
        && id.chars().any(|c| c.is_ascii_uppercase())
}

fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or(&Value::Null),
        None => value,
    }
}

fn answers_with_error_body(doc: &Value, answer: &Value) -> bool {
    let expected = format!("#/components/schemas/{ERROR_SCHEMA}");
    let answer = resolve(doc, answer);
    answer["content"].as_object().is_some_and(|content| {
        !content.is_empty()
            && content
                .values()
                .all(|media| media["schema"]["$ref"].as_str() == Some(expected.as_str()))
    })
}

fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn declared_parameter<'a>(
    doc: &'a Value,
    op: &'a Map<String, Value>,
    name: &str,
) -> Option<&'a Value> {
    op.get("parameters")
        .and_then(Value::as_array)?
        .iter()
        .map(|p| resolve(doc, p))
        .find(|p| p["in"] == "path" && p["name"] == name)
}

fn is_constrained(schema: &Value) -> bool {
    ["format", "pattern", "enum", "maxLength", "maximum", "$ref"]
        .iter()
        .any(|k| schema.get(k).is_some())
        || schema["type"] == "integer"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good_operation() -> Value {
        json!({
            "operationId": "getThing",
            "tags": ["things"],
            "security": [{"bearer": []}],
            "parameters": [{"in": "path", "name": "id", "required": true, "schema": {"type": "string", "format": "uuid"}}],
            "responses": {
                "200": {"description": "ok"},
                "404": {"$ref": "#/components/responses/NotFound"},
                "500": {"description": "oops", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        })
    }

    fn doc(ops: Value) -> Value {
        json!({
            "paths": ops,
            "tags": [{"name": "things"}],
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                "responses": {"NotFound": {"description": "no", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
            }
        })
    }

    #[test]
    fn a_document_that_keeps_every_rule_has_no_faults() {
        let d = doc(json!({"/api/v1/things/{id}": {"get": good_operation()}}));
        assert_eq!(faults(&d), Vec::<String>::new());
    }

    #[test]
    fn each_breach_is_named_with_its_operation() {
        let mut repeated = good_operation();
        repeated["tags"] = json!([]);
        repeated.as_object_mut().unwrap().remove("security");
        repeated["responses"]["422"] = json!({"description": "bad"});
        repeated["responses"]["409"] = json!({"description": "c", "content": {"application/json": {"schema": {"type": "object"}}}});
        repeated["parameters"][0]["schema"] = json!({"type": "string"});
        let mut snake = good_operation();
        snake["operationId"] = json!("rotate_key");
        snake["security"] = json!([{"apiKey": []}]);
        snake["tags"] = json!(["undeclared"]);
        snake["responses"].as_object_mut().unwrap().remove("500");
        snake["parameters"] = json!([]);
        let d = doc(json!({
            "/api/v1/things/{id}": {"get": good_operation(), "put": repeated},
            "/api/v1/other/{id}": {"post": snake}
        }));
        let mut found = faults(&d);
        found.sort();
        let mut expected = vec![
            "PUT /api/v1/things/{id}: operationId `getThing` is also GET /api/v1/things/{id}'s",
            "PUT /api/v1/things/{id}: no tags",
            "PUT /api/v1/things/{id}: no `security`: name the credentials it needs, or `security(())` if it needs none",
            "PUT /api/v1/things/{id}: the 409 answer is not in the `Error` body",
            "PUT /api/v1/things/{id}: the 422 answer is not in the `Error` body",
            "PUT /api/v1/things/{id}: path parameter `id` has no constraint (format, pattern, enum, maxLength or a bound)",
            "POST /api/v1/other/{id}: operationId `rotate_key` is not lowerCamelCase verb + noun (e.g. listWorkflows)",
            "POST /api/v1/other/{id}: tag `undeclared` is not declared in the document's tags",
            "POST /api/v1/other/{id}: security scheme `apiKey` is not defined",
            "POST /api/v1/other/{id}: no 500 answer",
            "POST /api/v1/other/{id}: path parameter `id` is not declared",
        ];
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_single_word_id_is_not_meaningful() {
        for bad in ["list", "get", "chat", "list_workflows", "ListWorkflows", ""] {
            assert!(!is_meaningful_id(bad), "{bad}");
        }
        for good in ["listWorkflows", "getExecution", "sendChatMessage"] {
            assert!(is_meaningful_id(good), "{good}");
        }
    }

    #[test]
    fn anonymous_means_an_empty_requirement_among_the_alternatives() {
        let d = doc(json!({
            "/a": {"get": {"security": [{}]}},
            "/b": {"get": {"security": [{}, {"bearer": []}]}},
            "/c": {"get": {"security": [{"bearer": []}]}}
        }));
        let anonymous: Vec<bool> = operations(&d).iter().map(Operation::is_anonymous).collect();
        assert_eq!(anonymous, [true, true, false]);
    }
}
