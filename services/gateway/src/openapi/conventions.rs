//! What every operation of the merged document says the same way: the error
//! answers its shape allows, each in the one error body (`Error`).
//!
//! The services document what is particular to each route (a 409 on a
//! conflict, a 403 on a foreign OAuth state); what follows from an operation's
//! shape alone is added here, so that a new route cannot leave it out: a body
//! can be malformed (400), too large (413) or invalid (422); a token can be
//! missing (401); a path id can hold an encoded separator (400) or name
//! nothing of the caller's (404); a query
//! can be invalid (422); every `/api/` route is rate limited (429); and any
//! route can fail unexpectedly (500) or find a service it needs down (503).

use echoflow_service_kit::ErrorCode;
use serde_json::{Map, Value, json};

/// The HTTP methods an OpenAPI path item may hold operations for.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The error answers, by status: the name under `components/responses` and what it means.
const ANSWERS: [(&str, &str, &str); 8] = [
    (
        "400",
        "BadRequest",
        "BAD_REQUEST: the body is not JSON, not readable, or the path is not a public route",
    ),
    (
        "401",
        "Unauthorized",
        "UNAUTHORIZED: the credentials are missing, malformed, expired or revoked",
    ),
    (
        "404",
        "NotFound",
        "NOT_FOUND: nothing of the caller's has this id (another user's resource is not found either)",
    ),
    (
        "413",
        "PayloadTooLarge",
        "PAYLOAD_TOO_LARGE: the body is larger than the route accepts",
    ),
    (
        "422",
        "ValidationError",
        "VALIDATION_ERROR or INVALID_WORKFLOW: a field, query parameter or graph is invalid; `details` says where",
    ),
    (
        "429",
        "RateLimited",
        "RATE_LIMITED: too many requests; `Retry-After` says when to try again",
    ),
    (
        "500",
        "InternalError",
        "INTERNAL_ERROR: an unexpected failure, logged with its cause; the body says nothing more",
    ),
    (
        "503",
        "ServiceUnavailable",
        "SERVICE_UNAVAILABLE: a service or database this route needs is down; try again shortly",
    ),
];

/// The name of the error body under `components/schemas`.
pub const ERROR_SCHEMA: &str = "Error";
/// The name of one server-sent event under `components/schemas`.
pub const EVENT_SCHEMA: &str = "ServerSentEvent";

/// Adds the error body schema and the shared error answers to `doc`, and to
/// each operation the error answers its shape allows.
pub fn apply(doc: &mut Value) {
    add_components(doc);
    // Clients resolve paths against the address they fetched the document from.
    if doc.get("servers").is_none() {
        doc["servers"] =
            json!([{"url": "/", "description": "the gateway that serves this document"}]);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                document_errors(path, op);
                describe_events(op);
                add_summary(op);
                drop_repeated_parameters(op);
            }
        }
    }
}

fn add_components(doc: &mut Value) {
    if !doc["components"].is_object() {
        doc["components"] = json!({});
    }
    if !doc["components"]["schemas"].is_object() {
        doc["components"]["schemas"] = json!({});
    }
    doc["components"]["schemas"][ERROR_SCHEMA] = error_schema();
    doc["components"]["schemas"][EVENT_SCHEMA] = event_schema();
    if !doc["components"]["responses"].is_object() {
        doc["components"]["responses"] = json!({});
    }
    for (status, name, description) in ANSWERS {
        let mut answer = json!({"description": description, "content": error_content()});
        if status == "429" {
            answer["headers"] = json!({"Retry-After": {
                "description": "seconds to wait before trying again",
                "required": true,
                "schema": {"type": "string"}
            }});
        }
        doc["components"]["responses"][name] = answer;
    }
}

/// One event of a `text/event-stream` answer as an SSE parser (a browser's
/// `EventSource`, a client library, schemathesis) gives it: its fields, not
/// the stream's text.
fn event_schema() -> Value {
    json!({
        "type": "object",
        "description": "One server-sent event: `data` is JSON text whose shape the operation describes, `event` its name (absent: `message`), `id` what `Last-Event-ID` resumes from.",
        "properties": {
            "event": {"type": "string"},
            "data": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0}
        }
    })
}

/// Every `text/event-stream` answer is a sequence of [`event_schema`] events.
fn describe_events(op: &mut Map<String, Value>) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for answer in responses.values_mut() {
        if let Some(stream) = answer
            .pointer_mut("/content/text~1event-stream")
            .and_then(Value::as_object_mut)
        {
            stream.insert(
                "schema".into(),
                json!({"$ref": format!("#/components/schemas/{EVENT_SCHEMA}")}),
            );
        }
    }
}

/// `{"error": {code, message, details}}`; `code` is one of the one table's codes.
fn error_schema() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "description": "Every error the API answers with.",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": codes, "description": "from the one table of error codes; clients branch on this"},
                "message": {"type": "string", "description": "for people; not to be parsed"},
                "details": {"type": "object", "description": "where the fault is, e.g. `path` or `faults`; `{}` when there is nothing to add"}
            }
        }},
        "example": {"error": {"code": "NOT_FOUND", "message": "workflow not found", "details": {}}}
    })
}

fn error_content() -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{ERROR_SCHEMA}")}}})
}

/// utoipa adds the path parameters it reads from a handler's `web::Path<(..)>`
/// after those a route declares itself: the first of each `in` + `name`
/// (the declared one, with its description and constraints) is kept.
fn drop_repeated_parameters(op: &mut Map<String, Value>) {
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        let mut seen = std::collections::HashSet::new();
        params.retain(|p| seen.insert((p["in"].to_string(), p["name"].to_string())));
    }
}

/// An operation without a summary (its handler has no doc comment) is
/// summarised by its operationId: `listWorkflowVersions` -> "List workflow versions".
fn add_summary(op: &mut Map<String, Value>) {
    if op
        .get("summary")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return;
    }
    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
        let summary = words_of(id);
        op.insert("summary".into(), json!(summary));
    }
}

fn words_of(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The statuses an operation's shape allows besides what its service documents.
fn implied_statuses(path: &str, op: &Map<String, Value>) -> Vec<&'static str> {
    let mut statuses = Vec::new();
    let params: Vec<&str> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p["in"].as_str()).collect())
        .unwrap_or_default();
    let has_body = op.contains_key("requestBody");
    let has_id = path.contains('{') || params.contains(&"path");
    // The gateway refuses a path id holding an encoded separator with a 400.
    if has_body || has_id {
        statuses.push("400");
    }
    if requires_credentials(op) {
        statuses.push("401");
    }
    if has_id {
        statuses.push("404");
    }
    if has_body {
        statuses.push("413");
    }
    if has_body || params.contains(&"query") {
        statuses.push("422");
    }
    if path.starts_with("/api/") {
        statuses.push("429");
    }
    statuses.extend(["500", "503"]);
    statuses
}

/// Whether every way of calling `op` needs credentials (an empty requirement
/// `{}` in `security` makes them optional).
fn requires_credentials(op: &Map<String, Value>) -> bool {
    op.get("security")
        .and_then(Value::as_array)
        .is_some_and(|reqs| {
            !reqs.is_empty()
                && reqs
                    .iter()
                    .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
        })
}

fn document_errors(path: &str, op: &mut Map<String, Value>) {
    let implied = implied_statuses(path, op);
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else {
        return;
    };
    for status in implied {
        if !responses.contains_key(status)
            && let Some((_, name, _)) = ANSWERS.iter().find(|(s, _, _)| *s == status)
        {
            responses.insert(
                status.to_string(),
                json!({"$ref": format!("#/components/responses/{name}")}),
            );
        }
    }
    // A service's own error answers get the error body too, keeping their words.
    for (status, answer) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error && answer.get("$ref").is_none() && answer.get("content").is_none() {
            answer["content"] = error_content();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_with(path: &str, method: &str, op: Value) -> Value {
        let mut doc = json!({"paths": {}});
        doc["paths"][path] = json!({ method: op });
        doc
    }

    #[test]
    fn an_authenticated_operation_with_an_id_and_a_body_gets_every_error_it_can_answer() {
        let mut doc = doc_with(
            "/api/v1/things/{id}",
            "put",
            json!({
                "operationId": "update",
                "parameters": [{"in": "path", "name": "id", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": {}}}},
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "ok"}, "409": {"description": "a conflict"}}
            }),
        );
        apply(&mut doc);
        let responses = &doc["paths"]["/api/v1/things/{id}"]["put"]["responses"];
        let mut statuses: Vec<&String> = responses.as_object().unwrap().keys().collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [
                "200", "400", "401", "404", "409", "413", "422", "429", "500", "503"
            ]
        );
        assert_eq!(responses["409"]["description"], "a conflict");
        assert_eq!(
            responses["409"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
        assert_eq!(
            responses["401"]["$ref"],
            "#/components/responses/Unauthorized"
        );
        assert!(responses["200"].get("content").is_none());
        assert!(
            doc["components"]["responses"]["RateLimited"]["headers"]["Retry-After"].is_object()
        );
    }

    #[test]
    fn a_public_operation_without_body_or_id_gets_no_401_400_or_404() {
        let mut doc = doc_with(
            "/hooks/static",
            "get",
            json!({"operationId": "receive", "responses": {"202": {"description": "ok"}}}),
        );
        apply(&mut doc);
        let responses = doc["paths"]["/hooks/static"]["get"]["responses"]
            .as_object()
            .unwrap();
        assert_eq!(responses.keys().collect::<Vec<_>>(), ["202", "500", "503"]);
    }

    #[test]
    fn an_operation_without_summary_is_summarised_by_its_id_and_servers_are_relative() {
        let mut doc = doc_with(
            "/api/v1/workflows/{id}/versions",
            "get",
            json!({"operationId": "listWorkflowVersions", "responses": {}}),
        );
        doc["paths"]["/api/v1/x"] =
            json!({"get": {"operationId": "getX", "summary": "Kept", "responses": {}}});
        apply(&mut doc);
        assert_eq!(
            doc["paths"]["/api/v1/workflows/{id}/versions"]["get"]["summary"],
            "List workflow versions"
        );
        assert_eq!(doc["paths"]["/api/v1/x"]["get"]["summary"], "Kept");
        assert_eq!(doc["servers"][0]["url"], "/");
    }

    #[test]
    fn a_repeated_parameter_keeps_its_first_declaration() {
        let mut doc = doc_with(
            "/api/v1/things/{id}",
            "delete",
            json!({"operationId": "deleteThing", "parameters": [
                {"in": "path", "name": "id", "description": "declared", "schema": {"format": "uuid"}},
                {"in": "query", "name": "id", "schema": {}},
                {"in": "path", "name": "id", "schema": {}}
            ], "responses": {}}),
        );
        apply(&mut doc);
        let params = &doc["paths"]["/api/v1/things/{id}"]["delete"]["parameters"];
        assert_eq!(params.as_array().unwrap().len(), 2, "{params}");
        assert_eq!(params[0]["description"], "declared");
        assert_eq!(params[1]["in"], "query");
    }

    #[test]
    fn optional_credentials_do_not_imply_401() {
        let op = json!({"security": [{"bearer": []}, {}]});
        assert!(!requires_credentials(op.as_object().unwrap()));
        let op = json!({"security": [{"bearer": []}]});
        assert!(requires_credentials(op.as_object().unwrap()));
    }
}
