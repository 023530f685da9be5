//! The user journeys both run modes must pass, driven through the public API.

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use echoflow_test_support::api::{Api, webhook_workflow};

/// The fake customer API the workflow calls.
pub async fn customer_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/customers/lookup"))
        .and(header("x-order", "A-1001"))
        .and(body_json(json!({"email": "ada@example.com"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tier": "gold", "id": 42})))
        .mount(&server)
        .await;
    server
}

/// Creates the webhook workflow; returns (workflow id, webhook path).
pub async fn create_webhook_workflow(api: &Api, target: &str) -> (String, String) {
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &webhook_workflow(target, api.chatbot_id()),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    assert_eq!(wf["version"], 1);
    assert_eq!(wf["is_active"], true);
    let url = wf["webhook_url"]
        .as_str()
        .expect("a webhook workflow has a webhook_url");
    let hook_path = url[url.find("/hooks/").unwrap()..].to_string();
    (wf["id"].as_str().unwrap().to_string(), hook_path)
}

/// Calls the webhook; returns the execution id from the 202.
pub async fn call_webhook(api: &Api, hook_path: &str) -> String {
    let r = api
        .client
        .post(format!("{}{hook_path}?source=test", api.base))
        .json(&json!({"email": "ada@example.com", "order_id": "A-1001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.unwrap();
    body["execution_id"].as_str().unwrap().to_string()
}

/// An execution that ran webhook -> lookup -> found -> result, each step right.
pub fn assert_completed_run(execution: &Value, workflow_id: &str) {
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["workflow_id"], workflow_id);
    assert_eq!(execution["workflow_version"], 1);
    assert_eq!(execution["trigger"]["type"], "webhook.received");
    assert_eq!(execution["trigger"]["data"]["body"]["order_id"], "A-1001");
    assert_eq!(execution["trigger"]["data"]["query"]["source"], "test");
    let steps = execution["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps
        .iter()
        .map(|s| s["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["lookup", "found", "result"], "{execution}");
    for step in steps {
        assert_eq!(step["status"], "completed", "{step}");
        assert_eq!(step["attempts"], 1, "{step}");
        assert!(step["duration_ms"].as_i64().unwrap() >= 0);
    }
    let lookup = &steps[0];
    assert_eq!(lookup["node_type"], "action.http_request");
    assert_eq!(lookup["input"]["method"], "POST");
    assert_eq!(lookup["input"]["headers"]["x-order"], "A-1001");
    assert_eq!(lookup["input"]["body"], json!({"email": "ada@example.com"}));
    assert_eq!(lookup["output"]["status"], 200);
    assert_eq!(lookup["output"]["body"], json!({"tier": "gold", "id": 42}));
    let found = &steps[1];
    assert_eq!(
        found["input"]["condition"],
        "{{ steps.lookup.output.status == 200 }}"
    );
    assert_eq!(found["output"], json!({"result": true}));
    let result = &steps[2];
    let expected = json!({"tier": "gold", "order": "A-1001", "greeting": "Hello ada@example.com"});
    assert_eq!(result["input"]["values"], expected);
    assert_eq!(result["output"], expected);
}

/// Register, sign in, save the workflow, call its webhook, see the run.
/// Returns the workflow id, its webhook path and the fake customer API
/// (kept alive for later calls).
pub async fn webhook_journey(api: &mut Api, email: &str) -> (String, String, MockServer) {
    api.sign_up(email).await;
    let (status, me) = api.get("/api/v1/users/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], email);
    let customers = customer_api().await;
    let (workflow_id, hook) = create_webhook_workflow(api, &customers.uri()).await;
    let execution_id = call_webhook(api, &hook).await;
    // Accepted means visible at once.
    let (status, early) = api.get(&format!("/api/v1/executions/{execution_id}")).await;
    assert_eq!(status, 200, "{early}");
    assert!(
        matches!(
            early["status"].as_str(),
            Some("queued" | "running" | "completed")
        ),
        "{early}"
    );
    let execution = api.wait_finished(&execution_id).await;
    assert_completed_run(&execution, &workflow_id);
    assert_eq!(customers.received_requests().await.unwrap().len(), 1);
    let (status, list) = api
        .get(&format!("/api/v1/executions?workflow_id={workflow_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], execution_id.as_str());
    (workflow_id, hook, customers)
}

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

fn edge(id: &str, source: &str, target: &str) -> Value {
    json!({"id": id, "source": source, "target": target})
}

/// Each kind of invalid graph is refused with 422 and the path of the fault.
pub async fn invalid_graphs_are_refused(api: &Api) {
    let hook = node("hook", "trigger.webhook", json!({}));
    let set = |id: &str| node(id, "action.set", json!({"values": {"a": 1}}));
    let cases = [
        (
            "cycle",
            json!({"nodes": [hook.clone(), set("a"), set("b")],
                   "edges": [edge("e1", "hook", "a"), edge("e2", "a", "b"), edge("e3", "b", "a")]}),
            "flow_definition.edges[2]",
        ),
        (
            "two triggers",
            json!({"nodes": [hook.clone(), node("manual", "trigger.manual", json!({}))], "edges": []}),
            "flow_definition.nodes[1].type",
        ),
        (
            "edge to a missing node",
            json!({"nodes": [hook.clone(), set("a")], "edges": [edge("e1", "hook", "a"), edge("e2", "a", "ghost")]}),
            "flow_definition.edges[1].target",
        ),
        (
            "bad config",
            json!({"nodes": [hook.clone(), set("a"), node("call", "action.http_request", json!({"method": "GET"}))],
                   "edges": [edge("e1", "hook", "a"), edge("e2", "a", "call")]}),
            "flow_definition.nodes[2].data.config.url",
        ),
    ];
    for (what, definition, fault_path) in cases {
        let body =
            json!({"name": what, "chatbot_id": api.chatbot_id(), "flow_definition": definition});
        let (status, answer) = api.post("/api/v1/workflows", &body).await;
        assert_eq!(status, 422, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_WORKFLOW", "{what}");
        assert_eq!(
            answer["error"]["details"]["path"], fault_path,
            "{what}: {answer}"
        );
    }
    let (status, answer) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "x", "chatbot_id": "not-a-uuid", "flow_definition": {}}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"]["message"].is_string());
}

/// Another user sees none of the first user's workflow or executions.
pub async fn other_users_see_nothing(base: &str, workflow_id: &str, execution_id: Option<&str>) {
    let mut other = Api::new(base);
    other
        .sign_up(&format!(
            "other-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    for path in [format!("/api/v1/workflows/{workflow_id}")] {
        let (status, body) = other.get(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }
    let (status, _) = other
        .post(
            &format!("/api/v1/workflows/{workflow_id}/execute"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        other
            .delete(&format!("/api/v1/workflows/{workflow_id}"))
            .await,
        404
    );
    if let Some(id) = execution_id {
        let (status, _) = other.get(&format!("/api/v1/executions/{id}")).await;
        assert_eq!(status, 404);
    }
    let (status, list) = other.get("/api/v1/workflows").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 0);
    let (status, _) = Api::new(base).get("/api/v1/workflows").await;
    assert_eq!(status, 401, "no token, no workflows");
}

/// `/healthz`, `/readyz` and `/metrics` on a service.
pub async fn health_endpoints(base: &str) {
    let client = reqwest::Client::new();
    for (path, needle) in [
        ("/healthz", "ok"),
        ("/readyz", "database"),
        ("/metrics", ""),
    ] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{base}{path}");
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{base}{path}: {text}");
    }
}

/// Swagger UI and the merged OpenAPI document.
pub async fn docs_are_served(base: &str) {
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{base}/api/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("swagger"));
    let doc: Value = client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/auth/token",
        "/api/v1/workflows",
        "/hooks/{token}",
        "/api/v1/executions/{id}",
        "/api/v1/chat",
        "/api/v1/chatbots/{id}/faqs",
        "/api/v1/templates/{id}/instantiate",
        "/api/v1/audit-log",
        "/api/v1/events",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the merged document"
        );
    }
}

/// A CloudEvent sent to `POST /api/v1/events` starts the sender's
/// `trigger.event` workflow for its type (which calls a fake shop API with
/// the event's data); the same event sent again runs nothing again, and
/// another user's event of that type starts nothing of the first user's.
pub async fn events_over_http(api: &Api) {
    let shop = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders/paid"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&shop)
        .await;
    let node = |id: &str, kind: &str, config: Value| json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}});
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "order paid", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "nodes": [
                    node("paid", "trigger.event", json!({"event_type": "custom.order_paid"})),
                    node("notify", "action.http_request", json!({"method": "POST",
                        "url": format!("{}/orders/paid", shop.uri()),
                        "body": {"order": "{{ trigger.data.order }}"}}))
                ],
                "edges": [{"id": "e", "source": "paid", "target": "notify"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let workflow_id = wf["id"].as_str().unwrap().to_string();
    let event = |id: &str, order: u32| {
        json!({"specversion": "1.0", "id": id, "source": "/shop", "type": "custom.order_paid",
               "chatbotid": api.chatbot_id(), "data": {"order": order}})
    };
    let (status, accepted) = api.post("/api/v1/events", &event("paid-41", 41)).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["id"], "paid-41");
    let runs = api.wait_runs(&workflow_id, 1).await;
    let execution = api.wait_finished(runs[0]["id"].as_str().unwrap()).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["trigger"]["id"], "paid-41", "{execution}");

    // Another user: their event of the type starts nothing of ours, and
    // they cannot name our chatbot.
    let mut other = Api::new(api.base.clone());
    other
        .sign_up(&format!(
            "events-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    let mut theirs = event("paid-99", 99);
    theirs["chatbotid"] = json!(other.chatbot_id());
    let (status, body) = other.post("/api/v1/events", &theirs).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = other.post("/api/v1/events", &event("paid-98", 98)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["details"]["path"], "chatbotid");
    // Ours again (a retry of the first), then a new one: one more run only.
    let (status, _) = api.post("/api/v1/events", &event("paid-41", 41)).await;
    assert_eq!(status, 202);
    let (status, _) = api.post("/api/v1/events", &event("paid-42", 42)).await;
    assert_eq!(status, 202);
    let runs = api.wait_runs(&workflow_id, 2).await;
    for run in &runs {
        let execution = api.wait_finished(run["id"].as_str().unwrap()).await;
        assert_eq!(execution["status"], "completed", "{execution}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let runs = api.wait_runs(&workflow_id, 2).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let orders: Vec<Value> = shop
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["order"].clone())
        .collect();
    let mut orders: Vec<i64> = orders.iter().filter_map(Value::as_i64).collect();
    orders.sort_unstable();
    assert_eq!(orders, [41, 42]);
}
