//! Run with: cargo test -p echoflow-e2e --test tenant_isolation
//!
//! The tenant-isolation matrix, generated from the gateway's OpenAPI document
//! against `echoflow up`: user A owns one of every resource; for every
//! operation whose path names a resource, user B (signed in, with its own
//! data) calls it with A's ids and must get 404 (or a 403 the operation
//! documents), and afterwards every GET of A's answers exactly as before.
//! Path parameters are filled by name from one table; a parameter the table
//! does not know fails the test, naming the operation, so a new route is
//! covered (or consciously excluded here) without anyone remembering to.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use echoflow_e2e::integrations;
use echoflow_test_support::api::{Api, Chatbot};
use echoflow_test_support::{Service, free_port};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A template of the shared catalogue.
const TEMPLATE: &str = "lead-capture-crm";

/// One of each of A's resources, by what the path parameters call them.
struct Owned {
    chatbot: Chatbot,
    faq: String,
    intent: String,
    workflow: String,
    version: String,
    execution: String,
    dead_letter: String,
    session: String,
    connection: String,
}

/// How a path parameter is filled for the matrix.
enum Fill {
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
fn fill(path: &str, name: &str, a: &Owned) -> Option<Fill> {
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
struct Operation {
    method: String,
    path: String,
    spec: Value,
}

impl Operation {
    fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    /// The statuses B may get for A's resource: 404, or 403 where documented.
    fn refusals(&self) -> Vec<u16> {
        let mut ok = vec![404];
        if self.spec["responses"].get("403").is_some() {
            ok.push(403);
        }
        ok
    }

    fn is_stream(&self) -> bool {
        self.spec["responses"]["200"]["content"]
            .get("text/event-stream")
            .is_some()
    }
}

fn path_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// Every operation of the document, DELETEs last (so a delete that wrongly
/// worked cannot hide another operation's leak behind a 404).
fn operations(doc: &Value) -> Vec<Operation> {
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

enum Filled {
    Url(String, bool),
    Excluded(String),
}

/// The URL of `op` with A's values; `bool` says whether any is owned.
/// Unknown parameters are pushed to `unknown`.
fn fill_path(op: &Operation, a: &Owned, unknown: &mut Vec<String>) -> Filled {
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
fn required_query(name: &str, a: &Owned) -> Option<String> {
    match name {
        // The versions of a diff: A's first and second.
        "from" => Some("1".to_string()),
        "to" => Some(a.version.clone()),
        _ => None,
    }
}

/// A body B could send for a resource of its own, by the request schema's
/// name; an unknown schema gets one generated from its required properties.
fn body_for(op: &Operation, doc: &Value, b_bot: &str) -> Option<Value> {
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
fn generate(schema: &Value, doc: &Value, b_bot: &str, depth: usize) -> Value {
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

/// webhook -> set: runs without any outside service.
fn flow(tag: &str) -> Value {
    json!({
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "Webhook", "config": {}}},
            {"id": "note", "type": "action.set", "position": {"x": 200, "y": 0}, "data": {"label": "Note", "config": {
                "values": {"tag": tag, "got": "{{ trigger.data }}"}
            }}}
        ],
        "edges": [{"id": "e1", "source": "hook", "target": "note"}]
    })
}

async fn sign_up(base: &str, email: &str) -> Api {
    let mut api = Api::new(base);
    api.sign_up(email).await;
    api
}

fn id_of(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_string()
}

/// A's resources: everything reachable without an outside provider, and a
/// Slack connection through the loopback fake.
async fn populate(a: &Api) -> Owned {
    let chatbot = a.chatbot.clone().unwrap();
    let bot = &chatbot.id;
    let (status, faq) = a
        .post(
            &format!("/api/v1/chatbots/{bot}/faqs"),
            &json!({"question": "Do you ship abroad?", "answer": "Yes, to the EU.", "category": "shipping"}),
        )
        .await;
    assert_eq!(status, 201, "{faq}");
    let (status, intent) = a
        .post(
            &format!("/api/v1/chatbots/{bot}/intents"),
            &json!({"name": "order_status", "examples": ["where is my order", "track my parcel"]}),
        )
        .await;
    assert_eq!(status, 201, "{intent}");

    let (status, wf) = a
        .post(
            "/api/v1/workflows",
            &json!({"name": "A's notes", "chatbot_id": bot, "flow_definition": flow("a1")}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let workflow = id_of(&wf);
    let (status, v2) = a
        .put(
            &format!("/api/v1/workflows/{workflow}"),
            &json!({"name": "A's notes", "flow_definition": flow("a2")}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2, "{v2}");
    let (status, run) = a
        .post(
            &format!("/api/v1/workflows/{workflow}/execute"),
            &json!({"input": {"order": "A-1"}}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let execution = run["execution_id"].as_str().unwrap().to_string();
    let done = a.wait_finished(&execution).await;
    assert_eq!(done["status"], "completed", "{done}");

    let dead_letter = dead_letter(a, bot).await;

    let (status, instance) = a
        .post(
            &format!("/api/v1/templates/{TEMPLATE}/instantiate"),
            &json!({"chatbot_id": bot, "params": {"crm_url": "http://127.0.0.1:9/leads", "crm_api_key": "a-key"}}),
        )
        .await;
    assert_eq!(status, 201, "{instance}");

    let (status, reply) = a
        .chat(
            &chatbot,
            json!({"message": "Do you ship abroad?", "user_email": "customer@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let session = reply["session_id"].as_str().unwrap().to_string();

    Owned {
        faq: id_of(&faq),
        intent: id_of(&intent),
        workflow,
        version: "2".to_string(),
        execution,
        dead_letter,
        session,
        connection: String::new(),
        chatbot,
    }
}

/// A run that fails (an HTTP step to a loopback address, which the default
/// egress refuses without sending anything) leaves a dead letter.
async fn dead_letter(a: &Api, bot: &str) -> String {
    let definition = json!({
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "Webhook", "config": {}}},
            {"id": "call", "type": "action.http_request", "position": {"x": 200, "y": 0}, "data": {"label": "Call", "config": {
                "method": "GET", "url": "http://127.0.0.1:9/refused"
            }}}
        ],
        "edges": [{"id": "e1", "source": "hook", "target": "call"}]
    });
    let (status, wf) = a
        .post(
            "/api/v1/workflows",
            &json!({"name": "A's failing call", "chatbot_id": bot, "flow_definition": definition}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let (status, run) = a
        .post(
            &format!("/api/v1/workflows/{}/execute", id_of(&wf)),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let execution = run["execution_id"].as_str().unwrap();
    let done = a.wait_finished(execution).await;
    assert_eq!(done["status"], "failed", "{done}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, list) = a.get("/api/v1/dead-letters").await;
        assert_eq!(status, 200, "{list}");
        if let Some(letter) = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["execution_id"] == execution)
        {
            return id_of(letter);
        }
        assert!(
            Instant::now() < deadline,
            "no dead letter for {execution}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every GET of the document that A can make with its own ids (streams and
/// excluded parameters aside), answered as A: path -> (status, body).
async fn snapshot(a: &Api, ops: &[Operation], owned: &Owned) -> BTreeMap<String, (u16, Value)> {
    let mut out = BTreeMap::new();
    for op in ops.iter().filter(|o| o.method == "get" && !o.is_stream()) {
        let Filled::Url(url, _) = fill_path(op, owned, &mut Vec::new()) else {
            continue;
        };
        let (status, body) = a.get(&url).await;
        out.insert(url, (status, body));
    }
    out
}

/// A fake Slack on loopback: enough to connect A's workspace through OAuth.
async fn fake_slack() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "token_type": "bot", "scope": "chat:write",
            "access_token": "xoxb-isolation-access", "refresh_token": "xoxe-isolation-refresh",
            "expires_in": 43200, "team": {"id": "T0ISO", "name": "A's team"}
        })))
        .mount(&slack)
        .await;
    slack
}

async fn start(slack: &MockServer) -> (Service, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let uri = slack.uri();
    let key = |k: &str| format!("ECHOFLOW_INTEGRATIONS__PROVIDERS__SLACK__{k}");
    let env = vec![
        (key("CLIENT_ID"), "slack-client".to_string()),
        (key("CLIENT_SECRET"), "slack-secret".to_string()),
        (key("AUTHORIZE_URL"), format!("{uri}/oauth/v2/authorize")),
        (key("TOKEN_URL"), format!("{uri}/api/oauth.v2.access")),
        (key("API_BASE_URL"), format!("{uri}/api")),
        (key("REVOKE_URL"), format!("{uri}/api/revoke")),
        (
            "ECHOFLOW_TELEMETRY__LOG_LEVEL".to_string(),
            "info,sqlx=warn".to_string(),
        ),
    ];
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let up = Service::start(
        "up-isolation",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    (up, dir)
}

/// A's ids where B may name them outside the path: in a body that points a
/// new resource at A's chatbot, in a replay filter, in list filters.
async fn ids_in_bodies_and_queries(b: &Api, a: &Owned) {
    let a_bot = &a.chatbot.id;
    let b_bot = b.chatbot.clone().unwrap();
    post_refused(
        b,
        "/api/v1/workflows",
        &json!({"name": "into A's bot", "chatbot_id": a_bot, "flow_definition": flow("b")}),
        "POST /api/v1/workflows {chatbot_id: A's}",
    )
    .await;
    post_refused(
        b,
        &format!("/api/v1/templates/{TEMPLATE}/instantiate"),
        &json!({"chatbot_id": a_bot, "params": {"crm_url": "http://127.0.0.1:9/leads", "crm_api_key": "b-key"}}),
        "POST /api/v1/templates/{id}/instantiate {chatbot_id: A's}",
    )
    .await;
    let (status, own) = b
        .post(
            "/api/v1/workflows",
            &json!({"name": "B's own", "chatbot_id": b_bot.id, "flow_definition": flow("b")}),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    post_refused(
        b,
        &format!("/api/v1/workflows/{}/copy", id_of(&own)),
        &json!({"chatbot_id": a_bot}),
        "POST /api/v1/workflows/{B's id}/copy {chatbot_id: A's}",
    )
    .await;
    // B's widget key does not open A's chatbot.
    let (status, body) = b
        .chat(
            &Chatbot {
                id: a_bot.clone(),
                api_key: b_bot.api_key.clone(),
            },
            json!({"message": "hello"}),
        )
        .await;
    println!(
        "{:<60} with B's key -> {status}",
        "POST /api/v1/chat {chatbot_id: A's}"
    );
    assert!(matches!(status, 401 | 403 | 404), "{status} {body}");
    // Replaying A's dead letter by id replays nothing of A's (the letter is
    // compared unchanged below).
    let (status, body) = b
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"ids": [a.dead_letter]}),
        )
        .await;
    println!(
        "{:<60} as B -> {status} {body}",
        "POST /api/v1/dead-letters/replay {ids: [A's]}"
    );
    assert!(matches!(status, 202 | 404), "{status} {body}");
    for list in [
        format!("/api/v1/executions?workflow_id={}", a.workflow),
        format!("/api/v1/executions?chatbot_id={a_bot}"),
        format!("/api/v1/workflows?chatbot_id={a_bot}"),
        format!("/api/v1/dead-letters?workflow_id={}", a.workflow),
    ] {
        let (status, body) = b.get(&list).await;
        println!("{:<60} as B -> {status}", format!("GET {list}"));
        assert!(
            status == 404 || (status == 200 && body["items"].as_array().is_some_and(Vec::is_empty)),
            "{list} as B: {status} {body}"
        );
    }
}

/// B posts `body` to `path`, which names something of A's: 404.
async fn post_refused(b: &Api, path: &str, body: &Value, label: &str) {
    let (status, answer) = b.post(path, body).await;
    println!("{label:<60} as B -> {status}");
    assert_eq!(status, 404, "{answer}");
}

async fn send(b: &Api, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = b
        .client
        .request(method, format!("{}{url}", b.base))
        .bearer_auth(b.token.as_deref().unwrap());
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_reaches_nothing_of_a_tenant_through_any_operation_with_an_id() {
    let slack = fake_slack().await;
    let (mut up, dir) = start(&slack).await;
    let base = up.base_url();
    let a = sign_up(&base, "tenant-a@example.com").await;
    let b = sign_up(&base, "tenant-b@example.com").await;
    let b_bot = b.chatbot.clone().unwrap().id;
    let mut owned = populate(&a).await;
    let connection = integrations::connect(&a, "slack").await;
    owned.connection = id_of(&connection);

    let (status, doc) = a.get("/api/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    let ops = operations(&doc);
    let before = snapshot(&a, &ops, &owned).await;
    println!(
        "{} GET answers of A's compared before and after",
        before.len()
    );
    for (url, (status, body)) in &before {
        assert_eq!(*status, 200, "A reads its own {url}: {body}");
    }

    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut covered = 0;
    for op in ops.iter().filter(|o| !path_params(&o.path).is_empty()) {
        let (url, any_owned) = match fill_path(op, &owned, &mut unknown) {
            Filled::Url(url, owned) => (url, owned),
            Filled::Excluded(reason) => {
                println!("{:<60} not called: {reason}", op.label());
                continue;
            }
        };
        let body = body_for(op, &doc, &b_bot);
        let (status, answer) = send(&b, &op.method, &url, body.as_ref()).await;
        println!("{:<60} as B -> {status}", op.label());
        let expected = if any_owned {
            covered += 1;
            op.refusals().contains(&status)
        } else {
            (200..300).contains(&status)
        };
        if !expected {
            wrong.push(format!("{} ({url}) as B: {status} {answer}", op.label()));
        }
    }
    println!("{covered} operations on A's resources called as B");
    assert!(
        unknown.is_empty(),
        "path parameters the isolation table does not know; add them to `fill` \
         (an owned id, shared, or excluded with its reason):\n{}",
        unknown.join("\n")
    );
    assert!(
        wrong.is_empty(),
        "B got something other than 404 (or a documented 403) for A's resources:\n{}",
        wrong.join("\n")
    );

    ids_in_bodies_and_queries(&b, &owned).await;

    // A's data is as it was, lists included (B created nothing in A's account).
    let after = snapshot(&a, &ops, &owned).await;
    for (url, was) in &before {
        assert_eq!(after.get(url), Some(was), "A's {url} changed");
    }
    // B's test and delete of A's connection reached no provider: the one
    // request Slack saw is A's code exchange.
    let calls = slack.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].url.path(), "/api/oauth.v2.access");
    // The widget key B tried to rotate still works for A's chatbot.
    let (status, reply) = a
        .chat(&owned.chatbot, json!({"message": "Still there?"}))
        .await;
    assert_eq!(status, 200, "{reply}");

    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
