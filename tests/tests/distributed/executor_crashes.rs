//! The executor down, SIGKILLed or SIGTERMed: queued jobs complete once with their own
//! version, no side effect is lost or repeated, a step that outlives the grace period
//! is handed back.

use super::*;

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
