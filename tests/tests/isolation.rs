//! Run with: cargo test -p echoflow-e2e --test isolation
//!
//! Tenant isolation, generated from the OpenAPI document of `echoflow up`:
//! user A owns one of each resource; for every operation whose path names a
//! resource, user B calls it with A's ids and gets 404 (or 403 where the
//! operation documents it), and afterwards A's resources read as before. A new
//! route is covered without touching this file; a path parameter this file
//! does not know how to fill fails the test, so it is filled or listed here
//! with the reason it names nothing a user owns.
#![allow(clippy::unwrap_used)]

use echoflow_e2e::api::Api;
use echoflow_e2e::{Service, free_port, integrations};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What fills a path parameter, known by the path segment before it.
enum Fill {
    /// One of A's resources.
    Owned(String),
    /// Not something a user owns: operations using it are not tenant-scoped.
    Shared(&'static str),
}

/// A's resources, by the segment that precedes their id in a path.
struct Owned {
    ids: BTreeMap<&'static str, String>,
}

impl Owned {
    fn fill(&self, path: &str, param: &str) -> Fill {
        let segments: Vec<&str> = path.split('/').collect();
        let at = segments
            .iter()
            .position(|s| *s == format!("{{{param}}}"))
            .unwrap();
        let before = segments[at - 1];
        match (before, param) {
            ("templates", "id") => Fill::Shared("the template library is the same for every user"),
            ("integrations", "provider") => Fill::Shared("a provider name, not a resource"),
            ("hooks", "token") => Fill::Shared(
                "a webhook's token is its credential: whoever holds it may call it, by design",
            ),
            _ => match self.ids.get(before) {
                Some(id) => Fill::Owned(id.clone()),
                None => panic!(
                    "no rule fills {{{param}}} in {path}: create such a resource as user A in \
                     this test, or list the parameter under Fill::Shared with the reason"
                ),
            },
        }
    }
}

/// A body that would be accepted from the owner, so that a 404 is about ownership.
/// `b_bot` is B's own chatbot, where a body names one.
fn plausible_body(method: &str, path: &str, b_bot: &str) -> Value {
    let suffix = path.rsplit('/').next().unwrap_or_default();
    match (method, suffix) {
        ("put", "{faq_id}") => json!({"question": "hijacked?", "answer": "yes"}),
        ("put", "{id}") if path.contains("/chatbots/") => json!({"name": "hijacked"}),
        ("put", "{id}") => json!({"name": "hijacked", "is_active": false}),
        ("post", "faqs") => json!({"question": "hijacked?", "answer": "yes"}),
        ("post", "intents") => json!({"name": "hijack", "examples": ["take over"]}),
        ("post", "execute") => json!({"input": {"from": "B"}}),
        ("post", "rollback") => json!({"version": 1}),
        ("post", "copy") => json!({"name": "stolen copy", "chatbot_id": b_bot}),
        ("post", "retry") => json!({}),
        ("post", "instantiate") => json!({"chatbot_id": b_bot}),
        _ => json!({}),
    }
}

/// A value for a required query parameter, from its schema.
fn query_value(schema: &Value) -> String {
    match schema["type"].as_str() {
        Some("integer") | Some("number") => "1".to_string(),
        Some("boolean") => "true".to_string(),
        _ => "1".to_string(),
    }
}

/// What B calls: every operation with a path parameter, filled from A's ids.
struct Call {
    method: String,
    url: String,
    documented_403: bool,
}

fn calls_from(doc: &Value, a: &Owned) -> (Vec<Call>, Vec<String>) {
    let mut calls = Vec::new();
    let mut shared = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let mut url = path.clone();
            let mut skip = None;
            let params: Vec<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_string)
                .collect();
            for param in &params {
                match a.fill(path, param) {
                    Fill::Owned(id) => url = url.replace(&format!("{{{param}}}"), &id),
                    Fill::Shared(why) => skip = Some(why),
                }
            }
            if let Some(why) = skip {
                shared.push(format!("{} {path}: {why}", method.to_uppercase()));
                continue;
            }
            let query: Vec<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query" && p["required"] == true)
                        .map(|p| {
                            format!(
                                "{}={}",
                                p["name"].as_str().unwrap(),
                                query_value(&p["schema"])
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            calls.push(Call {
                method: method.clone(),
                url,
                documented_403: op["responses"].get("403").is_some(),
            });
        }
    }
    (calls, shared)
}

/// Everything A can read about their resources.
async fn snapshot(api: &Api, a: &Owned) -> BTreeMap<String, Value> {
    let bot = &a.ids["chatbots"];
    let wf = &a.ids["workflows"];
    let reads = [
        format!("/api/v1/chatbots/{bot}"),
        format!("/api/v1/chatbots/{bot}/faqs"),
        format!("/api/v1/chatbots/{bot}/intents"),
        format!("/api/v1/chatbots/{bot}/conversations"),
        format!("/api/v1/conversations/{}/messages", a.ids["conversations"]),
        format!("/api/v1/workflows/{wf}"),
        format!("/api/v1/workflows/{wf}/versions"),
        format!("/api/v1/workflows/{}", a.ids["template-instance"]),
        format!("/api/v1/executions/{}", a.ids["executions"]),
        format!("/api/v1/executions?workflow_id={wf}"),
        "/api/v1/workflows".to_string(),
        "/api/v1/chatbots".to_string(),
        "/api/v1/integrations".to_string(),
    ];
    let mut seen = BTreeMap::new();
    for path in reads {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "A reads {path}: {body}");
        seen.insert(path, body);
    }
    seen
}

/// A webhook-triggered workflow whose one step sets a value: runs with no outside call.
fn local_workflow(chatbot_id: &str) -> Value {
    json!({
        "name": "A's workflow",
        "chatbot_id": chatbot_id,
        "flow_definition": {
            "nodes": [
                {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "Webhook", "config": {}}},
                {"id": "set", "type": "action.set", "position": {"x": 200, "y": 0}, "data": {"label": "Set", "config": {
                    "values": {"owner": "A"}
                }}}
            ],
            "edges": [{"id": "e1", "source": "hook", "target": "set"}]
        }
    })
}

/// A creates one of each resource: chatbot, FAQ, intent, workflow (two
/// versions), execution, conversation, template instance, Slack connection.
async fn create_resources(a: &Api) -> Owned {
    let mut ids = BTreeMap::new();
    let bot = a.chatbot_id().to_string();
    ids.insert("chatbots", bot.clone());

    let (status, faq) = a
        .post(
            &format!("/api/v1/chatbots/{bot}/faqs"),
            &json!({"question": "When are you open?", "answer": "Always."}),
        )
        .await;
    assert_eq!(status, 201, "{faq}");
    ids.insert("faqs", faq["id"].as_str().unwrap().to_string());

    let (status, intent) = a
        .post(
            &format!("/api/v1/chatbots/{bot}/intents"),
            &json!({"name": "refund", "examples": ["I want my money back"]}),
        )
        .await;
    assert_eq!(status, 201, "{intent}");
    ids.insert("intents", intent["id"].as_str().unwrap().to_string());

    let (status, wf) = a.post("/api/v1/workflows", &local_workflow(&bot)).await;
    assert_eq!(status, 201, "{wf}");
    let wf_id = wf["id"].as_str().unwrap().to_string();
    let (status, v2) = a
        .put(
            &format!("/api/v1/workflows/{wf_id}"),
            &json!({"name": "A's workflow, second version"}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    ids.insert("versions", "1".to_string());

    let (status, accepted) = a
        .post(
            &format!("/api/v1/workflows/{wf_id}/execute"),
            &json!({"input": {"from": "A"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let execution_id = accepted["execution_id"].as_str().unwrap().to_string();
    let run = a.wait_finished(&execution_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    ids.insert("executions", execution_id);
    ids.insert("workflows", wf_id);

    let bot_key = a.chatbot.clone().unwrap();
    let (status, reply) = a.chat(&bot_key, json!({"message": "hello"})).await;
    assert_eq!(status, 200, "{reply}");
    ids.insert(
        "conversations",
        reply["session_id"].as_str().unwrap().to_string(),
    );

    let (status, instance) = a
        .post(
            "/api/v1/templates/lead-capture-crm/instantiate",
            &json!({"chatbot_id": bot, "params": {
                "crm_url": "http://127.0.0.1:9/leads", "crm_api_key": "crm-key-1"}}),
        )
        .await;
    assert_eq!(status, 201, "{instance}");
    ids.insert(
        "template-instance",
        instance["id"].as_str().unwrap().to_string(),
    );

    let connection = integrations::connect(a, "slack").await;
    ids.insert(
        "integrations",
        connection["id"].as_str().unwrap().to_string(),
    );

    // Dead letters come only from messages the bus gives up on; none can be
    // made through the API, so B asks for an id that exists nowhere, and the
    // 404 says at least that the route answers as the others do.
    ids.insert("dead-letters", uuid::Uuid::now_v7().to_string());
    Owned { ids }
}

/// Slack's token endpoint, enough for one connection (on loopback).
async fn fake_slack() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "token_type": "bot", "scope": "chat:write",
            "access_token": "xoxb-isolation", "refresh_token": "xoxe-isolation",
            "expires_in": 43200, "team": {"id": "T0ISO", "name": "Alice's"}
        })))
        .mount(&slack)
        .await;
    slack
}

fn slack_settings(uri: &str) -> Vec<(String, String)> {
    [
        ("CLIENT_ID", "slack-client".to_string()),
        ("CLIENT_SECRET", "slack-secret".to_string()),
        ("AUTHORIZE_URL", format!("{uri}/oauth/v2/authorize")),
        ("TOKEN_URL", format!("{uri}/api/oauth.v2.access")),
        ("API_BASE_URL", format!("{uri}/api")),
        ("REVOKE_URL", format!("{uri}/api/auth.revoke")),
    ]
    .into_iter()
    .map(|(k, v)| (format!("ECHOFLOW_INTEGRATIONS__PROVIDERS__SLACK__{k}"), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_gets_404_on_every_operation_with_an_id_and_changes_nothing() {
    let slack = fake_slack().await;
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let env = slack_settings(&slack.uri());
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let up = Service::start(
        "up-isolation",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut a = Api::new(up.base_url());
    a.sign_up("alice@example.com").await;
    let mut b = Api::new(up.base_url());
    b.sign_up("bob@example.com").await;
    let owned = create_resources(&a).await;
    let before = snapshot(&a, &owned).await;

    let (status, doc) = a.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    let (calls, shared) = calls_from(&doc, &owned);
    assert!(
        calls.len() >= 25,
        "only {} operations with an id",
        calls.len()
    );
    let mut leaks = Vec::new();
    for call in &calls {
        let method = reqwest::Method::from_bytes(call.method.to_uppercase().as_bytes()).unwrap();
        let path = call.url.clone();
        let mut request = b
            .client
            .request(method.clone(), format!("{}{path}", b.base))
            .bearer_auth(b.token.as_deref().unwrap());
        if matches!(call.method.as_str(), "post" | "put" | "patch") {
            let template = path.split('?').next().unwrap_or_default();
            let doc_path = doc["paths"]
                .as_object()
                .unwrap()
                .keys()
                .find(|p| {
                    let ps: Vec<&str> = p.split('/').collect();
                    let ts: Vec<&str> = template.split('/').collect();
                    ps.len() == ts.len()
                        && ps
                            .iter()
                            .zip(&ts)
                            .all(|(p, t)| p.starts_with('{') || p == t)
                })
                .unwrap();
            request = request.json(&plausible_body(&call.method, doc_path, b.chatbot_id()));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let allowed = status == 404 || (status == 403 && call.documented_403);
        if !allowed {
            let body = response.text().await.unwrap_or_default();
            leaks.push(format!("{method} {path} as B: {status} {body}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "B reached A's resources:\n{}",
        leaks.join("\n")
    );

    let after = snapshot(&a, &owned).await;
    for (path, was) in &before {
        assert_eq!(&after[path], was, "A's {path} changed after B's calls");
    }
    // A's chatbot key still works (B's rotate did not rotate it).
    let (status, _) = a
        .chat(
            a.chatbot.as_ref().unwrap(),
            json!({"message": "still mine?"}),
        )
        .await;
    assert_eq!(status, 200);
    eprintln!(
        "{} operations called as B; not tenant-scoped:\n{}",
        calls.len(),
        shared.join("\n")
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}
