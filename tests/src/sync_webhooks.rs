//! Synchronous webhooks through the public API, in either run mode: a
//! webhook whose trigger sets `respond: when_finished` answers with the
//! workflow's own answer (its `action.respond` step), 202 with the execution
//! id once its timeout passed, 500 with the execution id when the run
//! failed; a respond node without such a trigger, or with a bad status or
//! header, is refused on save.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use echoflow_test_support::api::Api;

const EXECUTION_ID_HEADER: &str = "x-echoflow-execution-id";

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

fn edge(source: &str, target: &str) -> Value {
    json!({"id": format!("{source}->{target}"), "source": source, "target": target})
}

/// A chain of `nodes` after a webhook trigger configured with `trigger`.
fn chain(trigger: Value, nodes: Vec<Value>) -> Value {
    let mut all = vec![node("hook", "trigger.webhook", trigger)];
    all.extend(nodes);
    let edges: Vec<Value> = all
        .windows(2)
        .map(|pair| {
            edge(
                pair[0]["id"].as_str().unwrap(),
                pair[1]["id"].as_str().unwrap(),
            )
        })
        .collect();
    json!({"nodes": all, "edges": edges})
}

/// Saves the workflow; returns its webhook path.
async fn saved_hook(api: &Api, name: &str, definition: Value) -> String {
    let body = json!({"name": name, "chatbot_id": api.chatbot_id(), "flow_definition": definition});
    let (status, wf) = api.post("/api/v1/workflows", &body).await;
    assert_eq!(status, 201, "{name}: {wf}");
    let url = wf["webhook_url"].as_str().expect("a webhook_url");
    url[url.find("/hooks/").unwrap()..].to_string()
}

/// What the caller of a webhook receives.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    took: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }
}

async fn call(api: &Api, hook: &str, body: Value) -> Answer {
    let started = Instant::now();
    let response = api
        .client
        .post(format!("{}{hook}", api.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        headers,
        text,
        took: started.elapsed(),
    }
}

/// Every case, for a signed-in `api`.
pub async fn journey(api: &Api) {
    the_respond_step_answers(api).await;
    a_slow_run_answers_202_after_its_timeout(api).await;
    a_failed_run_answers_500_with_its_execution(api).await;
    misplaced_or_bad_respond_nodes_are_refused(api).await;
}

/// webhook (when_finished) -> set -> respond(201, a header and a body from expressions).
pub async fn the_respond_step_answers(api: &Api) {
    let hook = saved_hook(
        api,
        "sync order api",
        chain(
            json!({"respond": "when_finished", "respond_timeout_seconds": 20}),
            vec![
                node(
                    "save",
                    "action.set",
                    json!({"values": {"order": "{{ trigger.data.body.order }}", "by": "{{ trigger.data.body.email }}"}}),
                ),
                node(
                    "reply",
                    "action.respond",
                    json!({
                        "status": 201,
                        "headers": {"X-Order": "{{ steps.save.output.order }}"},
                        "body": {"order": "{{ steps.save.output.order }}", "message": "Thanks {{ steps.save.output.by }}"}
                    }),
                ),
            ],
        ),
    )
    .await;

    let answer = call(
        api,
        &hook,
        json!({"order": "A-7", "email": "ada@example.com"}),
    )
    .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.header("x-order"), "A-7");
    assert!(
        answer
            .header("content-type")
            .starts_with("application/json"),
        "{:?}",
        answer.headers
    );
    assert_eq!(
        answer.json(),
        json!({"order": "A-7", "message": "Thanks ada@example.com"})
    );
    let execution_id = answer.header(EXECUTION_ID_HEADER).to_string();
    let execution = api.wait_finished(&execution_id).await;
    assert_eq!(execution["status"], "completed", "{execution}");
}

/// webhook (when_finished, 1 s) -> delay 4 s -> respond: the caller gets 202
/// and the execution id after about a second; the run completes later.
pub async fn a_slow_run_answers_202_after_its_timeout(api: &Api) {
    let hook = saved_hook(
        api,
        "slow sync api",
        chain(
            json!({"respond": "when_finished", "respond_timeout_seconds": 1}),
            vec![
                node("wait", "action.delay", json!({"duration_ms": 4000})),
                node(
                    "reply",
                    "action.respond",
                    json!({"status": 200, "body": "late"}),
                ),
            ],
        ),
    )
    .await;

    let answer = call(api, &hook, json!({})).await;

    assert_eq!(answer.status, 202, "{}", answer.text);
    let execution_id = answer.json()["execution_id"]
        .as_str()
        .expect("the execution id")
        .to_string();
    assert_eq!(answer.header(EXECUTION_ID_HEADER), execution_id);
    assert!(
        answer.took >= Duration::from_millis(900),
        "the caller waited for the timeout, not {:?}",
        answer.took
    );
    let (status, early) = api.get(&format!("/api/v1/executions/{execution_id}")).await;
    assert_eq!(status, 200, "{early}");
    assert!(
        matches!(early["status"].as_str(), Some("queued" | "running")),
        "the run goes on after the timeout: {early}"
    );
    let execution = api.wait_finished(&execution_id).await;
    assert_eq!(execution["status"], "completed", "{execution}");
}

/// webhook (when_finished) -> an HTTP step the API refuses (400, no retry):
/// 500 WORKFLOW_FAILED with the execution id, which is failed.
pub async fn a_failed_run_answers_500_with_its_execution(api: &Api) {
    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "no such order"})))
        .mount(&refusing)
        .await;
    let hook = saved_hook(
        api,
        "failing sync api",
        chain(
            json!({"respond": "when_finished", "respond_timeout_seconds": 20}),
            vec![
                node(
                    "call",
                    "action.http_request",
                    json!({"method": "POST", "url": format!("{}/orders", refusing.uri()), "body": {}}),
                ),
                node("reply", "action.respond", json!({"status": 200, "body": "never"})),
            ],
        ),
    )
    .await;

    let answer = call(api, &hook, json!({})).await;

    assert_eq!(answer.status, 500, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"]["code"], "WORKFLOW_FAILED", "{body}");
    let execution_id = body["error"]["details"]["execution_id"]
        .as_str()
        .expect("the execution id")
        .to_string();
    assert_eq!(answer.header(EXECUTION_ID_HEADER), execution_id);
    assert_eq!(body["error"]["details"]["status"], "failed", "{body}");
    let execution = api.wait_finished(&execution_id).await;
    assert_eq!(execution["status"], "failed", "{execution}");
}

/// A respond node needs a webhook that waits; its status and headers are checked on save.
pub async fn misplaced_or_bad_respond_nodes_are_refused(api: &Api) {
    let waits = json!({"respond": "when_finished"});
    let respond = |config: Value| node("reply", "action.respond", config);
    let cases = [
        (
            "respond after a webhook that answers immediately",
            chain(json!({}), vec![respond(json!({"status": 200}))]),
            "flow_definition.nodes[1].type",
        ),
        (
            "respond after a manual trigger",
            json!({"nodes": [node("hook", "trigger.manual", json!({})), respond(json!({}))],
                   "edges": [edge("hook", "reply")]}),
            "flow_definition.nodes[1].type",
        ),
        (
            "status below 200",
            chain(waits.clone(), vec![respond(json!({"status": 99}))]),
            "flow_definition.nodes[1].data.config.status",
        ),
        (
            "status above 599",
            chain(waits.clone(), vec![respond(json!({"status": 600}))]),
            "flow_definition.nodes[1].data.config.status",
        ),
        (
            "a hop-by-hop header",
            chain(
                waits.clone(),
                vec![respond(
                    json!({"headers": {"Transfer-Encoding": "chunked"}}),
                )],
            ),
            "flow_definition.nodes[1].data.config.headers.Transfer-Encoding",
        ),
        (
            "a cookie",
            chain(
                waits.clone(),
                vec![respond(json!({"headers": {"Set-Cookie": "session=1"}}))],
            ),
            "flow_definition.nodes[1].data.config.headers.Set-Cookie",
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
}
