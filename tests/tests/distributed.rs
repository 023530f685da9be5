//! Run with: cargo test -p echoflow-e2e --test distributed
//!
//! gateway, chat, workflow-registry and executor as separate OS processes against
//! PostgreSQL and RabbitMQ, driven through the public API.
#![allow(clippy::unwrap_used)]

use echoflow_e2e::{conversation, integrations, scenarios};
use echoflow_test_support::api::Api;
use echoflow_test_support::{Service, TestDb, TestVhost, free_port};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Cluster {
    /// The environment every service gets (its port aside), to start more.
    base_env: Vec<(String, String)>,
    gateway: Service,
    chat: Service,
    integrations: Service,
    registry: Service,
    executor: Service,
    db: TestDb,
    vhost: TestVhost,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// A cluster whose services also get `extra` environment variables.
    async fn start_with(extra: Vec<(String, String)>) -> Self {
        let db = TestDb::create().await;
        let vhost = TestVhost::create();
        let (gw, reg, exe, chat) = (free_port(), free_port(), free_port(), free_port());
        let integ = free_port();
        let gateway_url = format!("http://127.0.0.1:{gw}");
        let env = |port: u16| -> Vec<(String, String)> {
            [
                ("ECHOFLOW_SERVER__HOST", "127.0.0.1".to_string()),
                ("ECHOFLOW_SERVER__PORT", port.to_string()),
                ("ECHOFLOW_DATABASE__URL", db.url()),
                ("ECHOFLOW_DATABASE__MAX_CONNECTIONS", "5".to_string()),
                ("ECHOFLOW_BUS__URL", vhost.url()),
                (
                    "ECHOFLOW_AUTH__JWT_SECRET",
                    "e2e-secret-e2e-secret-e2e-secret-e2e".to_string(),
                ),
                (
                    "ECHOFLOW_AUTH__INTERNAL_TOKEN",
                    "e2e-internal-token-e2e-internal-token".to_string(),
                ),
                (
                    "ECHOFLOW_SERVICES__REGISTRY_URL",
                    format!("http://127.0.0.1:{reg}"),
                ),
                (
                    "ECHOFLOW_SERVICES__EXECUTOR_URL",
                    format!("http://127.0.0.1:{exe}"),
                ),
                (
                    "ECHOFLOW_SERVICES__CHAT_URL",
                    format!("http://127.0.0.1:{chat}"),
                ),
                (
                    "ECHOFLOW_SERVICES__INTEGRATIONS_URL",
                    format!("http://127.0.0.1:{integ}"),
                ),
                (
                    "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
                    "e2e:ZTJlLXRva2VuLWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM=".to_string(),
                ),
                ("ECHOFLOW_INTEGRATIONS__ACTIVE_KEY_ID", "e2e".to_string()),
                (
                    "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
                    "e2e:cmVnaXN0cnktZTJlLXdlYmhvb2stc2VhbGluZy1rZXk=".to_string(),
                ),
                ("ECHOFLOW_REGISTRY__ACTIVE_KEY_ID", "e2e".to_string()),
                ("ECHOFLOW_SERVICES__PUBLIC_URL", gateway_url.clone()),
                (
                    "ECHOFLOW_EXECUTOR__ALLOW_NETWORKS",
                    "127.0.0.0/8".to_string(),
                ),
                ("ECHOFLOW_EXECUTOR__SHUTDOWN_GRACE_SECS", "2".to_string()),
                (
                    "ECHOFLOW_TELEMETRY__LOG_LEVEL",
                    "info,sqlx=warn".to_string(),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain(extra.iter().cloned())
            .collect()
        };
        let chat = Service::start("chat", chat, &["serve", "chat"], &env(chat)).await;
        let integrations = Service::start(
            "integrations",
            integ,
            &["serve", "integrations"],
            &env(integ),
        )
        .await;
        let executor = Service::start("executor", exe, &["serve", "executor"], &env(exe)).await;
        let registry = Service::start(
            "workflow-registry",
            reg,
            &["serve", "workflow-registry"],
            &env(reg),
        )
        .await;
        let gateway = Service::start("gateway", gw, &["serve", "gateway"], &env(gw)).await;
        Self {
            base_env: env(0),
            gateway,
            chat,
            integrations,
            registry,
            executor,
            db,
            vhost,
        }
    }

    async fn stop(self) {
        let Cluster {
            base_env: _,
            mut gateway,
            mut chat,
            mut integrations,
            mut registry,
            mut executor,
            db,
            vhost,
        } = self;
        gateway.kill();
        chat.kill();
        integrations.kill();
        registry.kill();
        executor.kill();
        db.drop_database().await;
        vhost.delete();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_workflow_runs_end_to_end_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    let (workflow_id, _, _customers) =
        scenarios::webhook_journey(&mut api, "ada@example.com").await;
    let (_, list) = api.get("/api/v1/executions").await;
    let execution_id = list["items"][0]["id"].as_str().unwrap().to_string();

    scenarios::invalid_graphs_are_refused(&api).await;
    scenarios::other_users_see_nothing(&api.base, &workflow_id, Some(&execution_id)).await;
    for service in [
        &cluster.gateway,
        &cluster.chat,
        &cluster.integrations,
        &cluster.registry,
        &cluster.executor,
    ] {
        scenarios::health_endpoints(&service.base_url()).await;
    }
    scenarios::docs_are_served(&api.base).await;
    scenarios::events_over_http(&api).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_angry_customer_starts_the_escalation_workflow_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("mia@example.com").await;
    let bot = conversation::conversation_journey(&api).await;
    conversation::chatbots_are_private(&api.base, &bot).await;
    conversation::a_template_runs(&api).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_while_the_executor_is_down_complete_exactly_once_with_their_own_version() {
    let mut cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("grace@example.com").await;
    let customers = scenarios::customer_api().await;
    let (workflow_id, hook) = scenarios::create_webhook_workflow(&api, &customers.uri()).await;

    cluster.executor.kill();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(scenarios::call_webhook(&api, &hook).await);
    }
    // Nothing ran: the jobs wait in RabbitMQ.
    assert!(customers.received_requests().await.unwrap().is_empty());
    // A new version saved while they wait does not change what they run.
    let (status, v2) = api
        .put(
            &format!("/api/v1/workflows/{workflow_id}"),
            &serde_json::json!({"flow_definition": {
                "nodes": [{"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0},
                           "data": {"label": "Webhook", "config": {}}}],
                "edges": []}}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    cluster.executor.restart().await;

    for id in &ids {
        let execution = api.wait_finished(id).await;
        scenarios::assert_completed_run(&execution, &workflow_id);
    }
    assert_eq!(
        customers.received_requests().await.unwrap().len(),
        ids.len(),
        "each lookup ran once"
    );
    let (_, list) = api
        .get(&format!(
            "/api/v1/executions?workflow_id={workflow_id}&status=completed"
        ))
        .await;
    assert_eq!(list["total"], ids.len());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_cloudevent_ends_in_the_dead_letter_queue_with_its_reason() {
    use lapin::options::{BasicGetOptions, BasicPublishOptions};
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let cluster = Cluster::start().await;
    let conn = Connection::connect(&cluster.vhost.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "echoflow.events".into(),
            "custom.order_shipped".into(),
            BasicPublishOptions::default(),
            br#"{"id": "1", "source": "/shop", "type": "custom.order_shipped"}"#,
            BasicProperties::default().with_message_id("malformed-1".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        if let Some(message) = channel
            .basic_get("executor.dead".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            break message;
        }
        assert!(Instant::now() < deadline, "nothing reached executor.dead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let headers = dead
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let reason = headers
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == "x-echoflow-reason")
        .map(|(_, v)| match v {
            lapin::types::AMQPValue::LongString(s) => {
                String::from_utf8_lossy(s.as_bytes()).into_owned()
            }
            other => format!("{other:?}"),
        })
        .expect("a reason header");
    assert!(reason.contains("specversion"), "reason: {reason}");
    let body: Value = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(
        body["type"], "custom.order_shipped",
        "the original body is kept"
    );
    let _ = conn.close(200, "done".into()).await;
    cluster.stop().await;
}

/// A node of a flow definition.
fn node(id: &str, kind: &str, config: Value) -> Value {
    serde_json::json!({"id": id, "type": kind, "position": {"x": 0, "y": 0},
        "data": {"label": id, "config": config}})
}

/// A side effect: POST to `/{id}` on `server`.
fn effect(server: &wiremock::MockServer, id: &str) -> Value {
    node(
        id,
        "action.http_request",
        serde_json::json!({"method": "POST", "url": format!("{}/{id}", server.uri()),
            "body": {"order": "{{ trigger.data.body.n }}"}}),
    )
}

/// Creates a workflow that runs `nodes` one after the other from a
/// webhook; returns the webhook's path.
async fn chain_workflow(api: &Api, name: &str, nodes: Vec<Value>) -> String {
    let mut all = vec![node("hook", "trigger.webhook", serde_json::json!({}))];
    all.extend(nodes);
    let edges: Vec<Value> = all
        .windows(2)
        .map(|w| {
            serde_json::json!({"id": format!("{}-{}", w[0]["id"], w[1]["id"]),
            "source": w[0]["id"], "target": w[1]["id"]})
        })
        .collect();
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &serde_json::json!({"name": name, "chatbot_id": api.chatbot_id(),
                "flow_definition": {"nodes": all, "edges": edges}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let url = wf["webhook_url"].as_str().unwrap();
    url[url.find("/hooks/").unwrap()..].to_string()
}

/// How many requests carried each `Idempotency-Key`; every request carries
/// one, naming the node it was sent for (the request's path).
fn sent_by_key(requests: &[wiremock::Request]) -> HashMap<String, usize> {
    let mut by_key = HashMap::new();
    for r in requests {
        let key = r
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .expect("every effect carries an Idempotency-Key");
        let node = r.url.path().trim_start_matches('/');
        assert!(key.ends_with(&format!(":{node}")), "{key} on {node}");
        *by_key.entry(key.to_string()).or_default() += 1;
    }
    by_key
}

/// Every execution of `ids` completes, with exactly `steps` in that order.
async fn assert_all_completed_with(api: &Api, ids: &[String], steps: &[&str]) {
    for id in ids {
        let execution = api.wait_finished(id).await;
        assert_eq!(execution["status"], "completed", "{execution}");
        let ran: Vec<&str> = execution["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node_id"].as_str().unwrap())
            .collect();
        assert_eq!(ran, steps, "{execution}");
    }
}

/// The executor is SIGKILLed 20 times while executions of a 5-step workflow
/// run; every execution still completes, and each side-effecting step took
/// effect exactly once: every request of a step carries the same
/// `Idempotency-Key`, which the receiver (like any idempotent API) uses to
/// apply it once. Raw repeats (a kill after the request left but before its
/// step committed) are counted and printed; the test below kills only where
/// no request is in flight and counts raw requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_executor_kills_in_a_five_step_workflow_lose_and_repeat_no_effect() {
    use std::collections::HashSet;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let mut cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("kill@example.com").await;
    let effects = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(120)))
        .mount(&effects)
        .await;
    let steps = ["s1", "s2", "s3", "s4", "s5"];
    let nodes: Vec<Value> = steps.iter().map(|s| effect(&effects, s)).collect();
    let hook = chain_workflow(&api, "five effects", nodes).await;

    let mut ids = Vec::new();
    for n in 0..10 {
        let (status, accepted) = api.post(&hook, &serde_json::json!({"n": n})).await;
        assert_eq!(status, 202, "{accepted}");
        ids.push(accepted["execution_id"].as_str().unwrap().to_string());
    }
    // Kill it at moments spread over the runs (each step takes ~120 ms).
    for round in 0..20u64 {
        tokio::time::sleep(Duration::from_millis(150 + (round * 37) % 200)).await;
        cluster.executor.kill();
        cluster.executor.restart().await;
    }
    assert_all_completed_with(&api, &ids, &steps).await;
    let by_key = sent_by_key(&effects.received_requests().await.unwrap());
    let expected: HashSet<String> = ids
        .iter()
        .flat_map(|id| steps.iter().map(move |s| format!("{id}:{s}")))
        .collect();
    let seen: HashSet<String> = by_key.keys().cloned().collect();
    assert_eq!(
        seen, expected,
        "each step of each execution took effect, none extra"
    );
    let repeats: usize = by_key.values().map(|n| n - 1).sum();
    println!(
        "{} effects applied once each; {repeats} raw repeats, each carrying its step's key",
        expected.len()
    );
    cluster.stop().await;
}

/// The executor is SIGKILLed 20 times in a row in the middle of a 5-step
/// workflow (effect, wait, effect, wait, effect), each time while an
/// execution is parked in its durable wait with no request in flight (the
/// database is read after each kill to prove it); each execution resumes
/// after its last completed step in the next executor process, and wiremock
/// sees every side-effecting step exactly once: 30 requests for 30 steps.
/// (A kill that lands after a request left but before its step committed
/// cannot know whether the request arrived; it repeats the request with the
/// same `Idempotency-Key`: the test above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_executor_kills_mid_workflow_and_wiremock_sees_each_effect_once() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let mut cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("kill-mid@example.com").await;
    let effects = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&effects)
        .await;
    let wait = |id: &str| node(id, "action.delay", serde_json::json!({"duration_ms": 1500}));
    let chain = ["s1", "w1", "s2", "w2", "s3"];
    let nodes = vec![
        effect(&effects, "s1"),
        wait("w1"),
        effect(&effects, "s2"),
        wait("w2"),
        effect(&effects, "s3"),
    ];
    let hook = chain_workflow(&api, "effects with waits", nodes).await;
    let sent_for =
        |key: &str, by_key: &HashMap<String, usize>| by_key.get(key).copied().unwrap_or(0);

    let mut ids = Vec::new();
    let mut kills = 0;
    for n in 0..10 {
        let (status, accepted) = api.post(&hook, &serde_json::json!({"n": n})).await;
        assert_eq!(status, 202, "{accepted}");
        let id = accepted["execution_id"].as_str().unwrap().to_string();
        for (parked, done, next) in [("w1", "s1", "s2"), ("w2", "s2", "s3")] {
            // Wait until the execution is parked in its wait...
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (_, execution) = api.get(&format!("/api/v1/executions/{id}")).await;
                let waiting = execution["steps"].as_array().is_some_and(|steps| {
                    steps
                        .iter()
                        .any(|s| s["node_id"] == parked && s["status"] == "waiting")
                });
                if waiting {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{id} never parked in {parked}: {execution}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // ...kill the executor there...
            cluster.executor.kill();
            kills += 1;
            // ...and prove where it died: the wait still pending, the step
            // before it committed, the one after neither recorded nor sent.
            let rows = cluster
                .db
                .query_json(&format!(
                    "SELECT node_id || '=' || status FROM executions.execution_steps \
                     WHERE execution_id = '{id}' ORDER BY seq"
                ))
                .await;
            let before: Vec<String> = chain
                .iter()
                .take_while(|s| **s != parked)
                .map(|s| format!("{s}=completed"))
                .chain([format!("{parked}=waiting")])
                .collect();
            assert_eq!(rows, before, "kill {kills} landed mid-workflow of {id}");
            let by_key = sent_by_key(&effects.received_requests().await.unwrap());
            assert_eq!(
                sent_for(&format!("{id}:{done}"), &by_key),
                1,
                "{done} of {id}"
            );
            assert_eq!(
                sent_for(&format!("{id}:{next}"), &by_key),
                0,
                "{next} of {id}"
            );
            cluster.executor.restart().await;
        }
        ids.push(id);
    }
    assert_eq!(kills, 20);
    assert_all_completed_with(&api, &ids, &chain).await;
    let requests = effects.received_requests().await.unwrap();
    let seen = sent_by_key(&requests);
    assert_eq!(
        requests.len(),
        30,
        "10 executions x 3 effects, no request repeated"
    );
    assert_eq!(seen.len(), 30);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    println!(
        "{kills} kills mid-workflow; wiremock saw {} requests for {} effects",
        requests.len(),
        seen.len()
    );
    cluster.stop().await;
}

/// A failed run starts the workflow's error workflow with the failure as its
/// trigger data; the failure is a dead letter that replays once fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_starts_the_error_workflow_and_its_dead_letter_replays() {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("oncall@example.com").await;
    let outside = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad order"})))
        .up_to_n_times(1)
        .mount(&outside)
        .await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&outside)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&outside)
        .await;
    let step = |id: &str, kind: &str, config: Value| json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}});
    let (status, alert) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "alert on-call", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "nodes": [step("start", "trigger.manual", json!({})),
                          step("page", "action.http_request", json!({"method": "POST",
                              "url": format!("{}/alerts", outside.uri()),
                              "body": {"failed": "{{ trigger.data.execution_id }}", "step": "{{ trigger.data.failed_step }}"}}))],
                "edges": [{"id": "e", "source": "start", "target": "page"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{alert}");
    let (status, orders) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "orders", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "settings": {"error_workflow_id": alert["id"]},
                "nodes": [step("hook", "trigger.webhook", json!({})),
                          step("create", "action.http_request", json!({"method": "POST",
                              "url": format!("{}/orders", outside.uri())}))],
                "edges": [{"id": "e", "source": "hook", "target": "create"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{orders}");
    let url = orders["webhook_url"].as_str().unwrap();
    let (status, accepted) = api
        .post(&url[url.find("/hooks/").unwrap()..], &json!({}))
        .await;
    assert_eq!(status, 202);
    let failed_id = accepted["execution_id"].as_str().unwrap().to_string();
    let failed = api.wait_finished(&failed_id).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    // The error workflow ran with the failure as its trigger data.
    let alert_id = alert["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert_run = loop {
        let (_, list) = api
            .get(&format!("/api/v1/executions?workflow_id={alert_id}"))
            .await;
        if let Some(id) = list["items"][0]["id"].as_str() {
            break api.wait_finished(id).await;
        }
        assert!(Instant::now() < deadline, "the error workflow never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert_run["status"], "completed", "{alert_run}");
    assert_eq!(alert_run["trigger"]["type"], "execution.failed");
    assert_eq!(
        alert_run["trigger"]["data"]["execution_id"],
        failed_id.as_str()
    );
    let pages: Vec<Value> = outside
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(pages, [json!({"failed": failed_id, "step": "create"})]);

    // The failure is a dead letter; the order API works now: replay it.
    let (status, letters) = api.get("/api/v1/dead-letters").await;
    assert_eq!(status, 200);
    assert_eq!(letters["total"], 1, "{letters}");
    assert_eq!(letters["items"][0]["execution_id"], failed_id.as_str());
    let (status, replayed) = api
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"workflow_id": orders["id"]}),
        )
        .await;
    assert_eq!(status, 202, "{replayed}");
    let retry = api
        .wait_finished(replayed["replayed"][0]["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(retry["status"], "completed", "{retry}");
    assert_eq!(retry["retry_of"], failed_id.as_str());
    cluster.stop().await;
}

/// SIGTERM while a step runs longer than the grace period: the executor
/// exits within it, the job is handed back, and after a restart the
/// execution completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_back_a_step_that_outlives_the_grace_period() {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let mut cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("grace@example.com").await;
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .mount(&slow)
        .await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slow)
        .await;
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "slow", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "nodes": [
                    {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "hook", "config": {}}},
                    {"id": "call", "type": "action.http_request", "position": {"x": 0, "y": 0}, "data": {"label": "call",
                        "config": {"method": "POST", "url": format!("{}/slow", slow.uri()), "timeout_ms": 60000}}}
                ],
                "edges": [{"id": "e", "source": "hook", "target": "call"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let url = wf["webhook_url"].as_str().unwrap();
    let (_, accepted) = api
        .post(&url[url.find("/hooks/").unwrap()..], &json!({}))
        .await;
    let id = accepted["execution_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.received_requests().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the slow step never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked = Instant::now();
    let exit = cluster.executor.terminate(Duration::from_secs(15)).await;
    assert!(exit.is_some(), "the executor did not exit on SIGTERM");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "exited after {took:?}, not within the 2 s grace (plus the server's shutdown)"
    );
    cluster.executor.restart().await;
    let execution = api.wait_finished(&id).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(
        slow.received_requests().await.unwrap().len(),
        2,
        "the step ran again after the hand-back"
    );
    cluster.stop().await;
}

/// Two registry OS processes against one database and vhost: a schedule
/// every second fires each tick once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registry_processes_fire_each_tick_of_a_schedule_once() {
    use serde_json::json;
    use std::collections::HashSet;

    let cluster = Cluster::start().await;
    let port = free_port();
    let env: Vec<(String, String)> = cluster
        .base_env
        .iter()
        .map(|(k, v)| {
            if k == "ECHOFLOW_SERVER__PORT" {
                (k.clone(), port.to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let mut second = Service::start(
        "workflow-registry-2",
        port,
        &["serve", "workflow-registry"],
        &env,
    )
    .await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("cron@example.com").await;
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "every second", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "nodes": [
                    {"id": "tick", "type": "trigger.schedule", "position": {"x": 0, "y": 0},
                     "data": {"label": "tick", "config": {"cron": "* * * * * *"}}},
                    {"id": "note", "type": "action.set", "position": {"x": 0, "y": 0},
                     "data": {"label": "note", "config": {"values": {"at": "{{ trigger.data.scheduled_for }}"}}}}
                ],
                "edges": [{"id": "e", "source": "tick", "target": "note"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    // Stop firing before counting.
    let id = wf["id"].as_str().unwrap();
    let (status, _) = api
        .put(
            &format!("/api/v1/workflows/{id}"),
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(status, 200);
    second.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, list) = api
        .get(&format!("/api/v1/executions?workflow_id={id}&limit=200"))
        .await;
    let mut ticks = Vec::new();
    for item in list["items"].as_array().unwrap() {
        let execution = api.wait_finished(item["id"].as_str().unwrap()).await;
        assert_eq!(execution["status"], "completed", "{execution}");
        ticks.push(
            execution["trigger"]["data"]["scheduled_for"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let unique: HashSet<&String> = ticks.iter().collect();
    assert_eq!(unique.len(), ticks.len(), "a tick fired twice: {ticks:?}");
    assert!(
        (3..=7).contains(&ticks.len()),
        "about one firing a second: {ticks:?}"
    );
    cluster.stop().await;
}

/// The authentication class across processes: a provider's 401 is refreshed
/// and retried by integrations, then retried once more by the executor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_401_is_retried_once_after_a_token_refresh_across_processes() {
    let fakes = integrations::FakeProviders::start().await;
    let cluster = Cluster::start_with(fakes.env()).await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("auth-class@example.com").await;
    integrations::authentication_class(&api, &fakes).await;
    // HubSpot's fakes expect the revoked-grant journey, which this test skips.
    fakes.hubspot.reset().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_connect_act_and_survive_a_revoked_grant_across_processes() {
    let fakes = integrations::FakeProviders::start().await;
    let cluster = Cluster::start_with(fakes.env()).await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("ines@example.com").await;
    let mut other = Api::new(cluster.gateway.base_url());
    other.sign_up("otto@example.com").await;
    integrations::integrations_journey(&api, &other, &fakes).await;
    // The database holds no token in clear text.
    let rows = cluster
        .db
        .query_json("SELECT row_to_json(c)::text AS row FROM integrations.connections c")
        .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in &rows {
        for secret in [
            integrations::SLACK_ACCESS,
            integrations::SLACK_REFRESH,
            integrations::SHEETS_ACCESS,
            integrations::SHEETS_REFRESH,
            integrations::HUBSPOT_ACCESS,
        ] {
            assert!(!row.contains(secret), "a token in clear text: {row}");
        }
    }
    cluster.stop().await;
}

/// Starts `echoflow serve <service>` with `env` (on a SQLite file, so no
/// database is needed) and returns what it wrote to stderr once it exited;
/// fails if the service became ready instead.
async fn serve_exit(service: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    use std::process::{Command, Stdio};
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("echoflow-weak-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let stderr = dir.join("stderr.log");
    let mut command = Command::new(echoflow_test_support::echoflow_binary());
    command
        .args(["serve", service])
        .env("ECHOFLOW_SERVER__HOST", "127.0.0.1")
        .env("ECHOFLOW_SERVER__PORT", port.to_string())
        .env(
            "ECHOFLOW_DATABASE__URL",
            format!("sqlite://{}/db.sqlite?mode=rwc", dir.display()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    for key in [
        "ECHOFLOW_AUTH__JWT_SECRET",
        "ECHOFLOW_AUTH__INTERNAL_TOKEN",
        "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
        "ECHOFLOW_INTEGRATIONS__ACTIVE_KEY_ID",
        "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
        "ECHOFLOW_REGISTRY__ACTIVE_KEY_ID",
    ] {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`echoflow serve {service}` started (ready: {ready}) with {env:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let said = std::fs::read_to_string(&stderr).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (status, said)
}

/// Outside `echoflow up`, a service does not start on a secret anyone could
/// know, and says which setting to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_default_placeholder_empty_and_short_secrets() {
    const STRONG: &str = "a-strong-secret-of-more-than-32-bytes-for-tests";
    // (service, environment, the setting its refusal names)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        // Nothing set: the built-in development values.
        ("gateway", vec![], "ECHOFLOW_AUTH__JWT_SECRET"),
        (
            "executor",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", "replace-me"),
            ],
            "ECHOFLOW_AUTH__INTERNAL_TOKEN",
        ),
        (
            "chat",
            vec![
                (
                    "ECHOFLOW_AUTH__JWT_SECRET",
                    "thirty-one-bytes-is-too-short!!",
                ),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", STRONG),
            ],
            "ECHOFLOW_AUTH__JWT_SECRET",
        ),
        (
            "gateway",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", ""),
            ],
            "ECHOFLOW_AUTH__INTERNAL_TOKEN",
        ),
        (
            "integrations",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", STRONG),
            ],
            "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
        ),
        (
            "workflow-registry",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", STRONG),
            ],
            "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
        ),
    ];
    for (service, env, setting) in cases {
        let (status, said) = serve_exit(service, &env).await;
        assert!(!status.success(), "{service} {env:?}: {status}");
        assert!(
            said.contains(setting) && said.contains("at least 32 bytes"),
            "{service} {env:?} should name {setting}:\n{said}"
        );
    }
}
