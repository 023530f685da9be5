//! Run with: cargo test -p echoflow-workflow-registry --test api sync_webhooks
//!
//! Synchronous webhooks, the registry's side: a webhook whose trigger sets
//! `respond: when_finished` keeps its caller waiting until the executor's
//! WebhookResponse for that execution arrives on `echoflow.responses` (here
//! published by the test, standing in for the executor), or until its
//! timeout (then 202); at most `registry.webhook_max_waiting` callers wait.

use std::time::{Duration, Instant};

use echoflow_bus::{OutgoingMessage, topology::RESPONSES_EXCHANGE};
use echoflow_contracts::{
    Message, PROTOBUF_CONTENT_TYPE, WEBHOOK_RESPONSE_ROUTING_KEY, WebhookResponse,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    DEADLINE, TestApp, assert_error, flow_with_trigger, hook_path, spawn_app,
    spawn_app_with_settings, workflow_body,
};

/// A webhook workflow whose caller waits: trigger -> set -> respond.
async fn waiting_workflow(app: &TestApp, trigger: Value) -> Value {
    let mut flow = flow_with_trigger("trigger.webhook", trigger);
    flow["nodes"].as_array_mut().unwrap().push(json!({
        "id": "reply", "type": "action.respond", "position": {"x": 0, "y": 0},
        "data": {"label": "reply", "config": {"status": 201, "body": {"ok": true}}}
    }));
    flow["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "e2", "source": "set", "target": "reply"}));
    app.created(&workflow_body("sync", app.chatbot().await, flow))
        .await
}

/// Calls the webhook in the background; the answer comes through the handle.
fn call_in_background(
    app: &TestApp,
    hook: &str,
) -> tokio::task::JoinHandle<(u16, reqwest::header::HeaderMap, String, Duration)> {
    call_in_background_with(app, hook, &[])
}

/// [`call_in_background`] with these headers.
fn call_in_background_with(
    app: &TestApp,
    hook: &str,
    headers: &[(&str, &str)],
) -> tokio::task::JoinHandle<(u16, reqwest::header::HeaderMap, String, Duration)> {
    let mut request = app.client.post(app.url(hook)).json(&json!({"order": 7}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    tokio::spawn(async move {
        let started = Instant::now();
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, text, started.elapsed())
    })
}

/// The execution id of the one job announced so far.
async fn announced(app: &TestApp, count: usize) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let jobs = app.announced_jobs().await;
        if jobs.len() >= count {
            return jobs[count - 1].execution_id.clone();
        }
        assert!(Instant::now() < deadline, "no job announced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn publish(app: &TestApp, response: WebhookResponse) {
    let message = OutgoingMessage::new(
        Uuid::now_v7().to_string(),
        WEBHOOK_RESPONSE_ROUTING_KEY,
        PROTOBUF_CONTENT_TYPE,
        response.encode_to_vec(),
    );
    app.bus.publish(RESPONSES_EXCHANGE, message).await.unwrap();
}

fn responded(execution_id: &str, status: i32, headers: Value, body: Value) -> WebhookResponse {
    WebhookResponse {
        execution_id: execution_id.to_string(),
        outcome: "responded".into(),
        status,
        headers_json: headers.to_string(),
        body_json: body.to_string(),
        error: String::new(),
    }
}

#[tokio::test]
async fn a_waiting_caller_gets_the_workflows_answer() {
    let app = spawn_app().await;
    let created = waiting_workflow(&app, json!({"respond": "when_finished"})).await;
    let call = call_in_background(&app, &hook_path(&created));
    let execution_id = announced(&app, 1).await;

    // An answer for another execution is not this caller's.
    publish(
        &app,
        responded(&Uuid::now_v7().to_string(), 418, json!({}), json!("no")),
    )
    .await;
    publish(
        &app,
        responded(
            &execution_id,
            201,
            json!({"X-Order": "7", "Location": "/orders/7"}),
            json!({"order": 7, "state": "created"}),
        ),
    )
    .await;
    let (status, headers, text, _) = call.await.unwrap();

    assert_eq!(status, 201, "{text}");
    assert_eq!(headers["x-order"], "7");
    assert_eq!(headers["location"], "/orders/7");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-echoflow-execution-id"], execution_id.as_str());
    // Served from echoflow's origin: a page a workflow answers runs sandboxed.
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"order": 7, "state": "created"}));
}

#[tokio::test]
async fn a_text_body_is_sent_as_text_and_a_run_without_respond_as_json() {
    let app = spawn_app().await;
    let created = waiting_workflow(&app, json!({"respond": "when_finished"})).await;
    let hook = hook_path(&created);

    let call = call_in_background(&app, &hook);
    let first = announced(&app, 1).await;
    publish(
        &app,
        responded(&first, 200, json!({}), json!("plain words")),
    )
    .await;
    let (status, headers, text, _) = call.await.unwrap();
    assert_eq!((status, text.as_str()), (200, "plain words"));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");

    let call = call_in_background(&app, &hook);
    let second = announced(&app, 2).await;
    let mut completed = responded(&second, 200, json!({}), json!({"greeting": "hello"}));
    completed.outcome = "completed".into();
    publish(&app, completed).await;
    let (status, headers, text, _) = call.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"greeting": "hello"})
    );
}

#[tokio::test]
async fn a_failed_run_is_answered_500_with_its_execution_id() {
    let app = spawn_app().await;
    let created = waiting_workflow(&app, json!({"respond": "when_finished"})).await;
    let call = call_in_background(&app, &hook_path(&created));
    let execution_id = announced(&app, 1).await;

    publish(
        &app,
        WebhookResponse {
            execution_id: execution_id.clone(),
            outcome: "failed".into(),
            status: 500,
            headers_json: "{}".into(),
            body_json: String::new(),
            error: "step 'call' failed: HTTP 400".into(),
        },
    )
    .await;
    let (status, headers, text, _) = call.await.unwrap();

    assert_eq!(status, 500, "{text}");
    assert_eq!(headers["x-echoflow-execution-id"], execution_id.as_str());
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_error(&body, "WORKFLOW_FAILED");
    assert_eq!(
        body["error"]["details"]["execution_id"],
        execution_id.as_str()
    );
    assert_eq!(body["error"]["details"]["status"], "failed");
    assert_eq!(
        body["error"]["details"]["error"],
        "the execution failed: step 'call' failed: HTTP 400"
    );
}

#[tokio::test]
async fn without_an_answer_the_caller_gets_202_and_the_execution_id_after_the_timeout() {
    let app = spawn_app().await;
    let created = waiting_workflow(
        &app,
        json!({"respond": "when_finished", "respond_timeout_seconds": 1}),
    )
    .await;

    let (status, headers, text, took) = call_in_background(&app, &hook_path(&created))
        .await
        .unwrap();

    assert_eq!(status, 202, "{text}");
    let execution_id = announced(&app, 1).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"execution_id": execution_id}));
    assert_eq!(headers["x-echoflow-execution-id"], execution_id.as_str());
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn the_servers_maximum_caps_the_triggers_timeout() {
    let app =
        spawn_app_with_settings(vec![("registry.webhook_respond_max_secs", "1".into())]).await;
    let created = waiting_workflow(
        &app,
        json!({"respond": "when_finished", "respond_timeout_seconds": 300}),
    )
    .await;

    let (status, _, text, took) = call_in_background(&app, &hook_path(&created))
        .await
        .unwrap();

    assert_eq!(status, 202, "{text}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
}

#[tokio::test]
async fn beyond_the_most_waiting_callers_a_call_is_refused_and_starts_nothing() {
    let app = spawn_app_with_settings(vec![("registry.webhook_max_waiting", "1".into())]).await;
    let created = waiting_workflow(&app, json!({"respond": "when_finished"})).await;
    let hook = hook_path(&created);
    let waiting = call_in_background(&app, &hook);
    let execution_id = announced(&app, 1).await;

    let (status, body) = app.call_hook(&hook, "{}", &[]).await;

    assert_eq!(status, 503, "{body}");
    assert_error(&body, "SERVICE_UNAVAILABLE");
    assert_eq!(body["error"]["details"]["max_waiting"], 1);
    assert_eq!(app.announced_jobs().await.len(), 1, "nothing else started");
    // The waiting caller is still answered, and frees its place.
    publish(
        &app,
        responded(&execution_id, 200, json!({}), json!("done")),
    )
    .await;
    let (status, _, text, _) = waiting.await.unwrap();
    assert_eq!((status, text.as_str()), (200, "done"));
    let again = call_in_background(&app, &hook);
    let next = announced(&app, 2).await;
    publish(&app, responded(&next, 204, json!({}), json!("dropped"))).await;
    let (status, _, text, _) = again.await.unwrap();
    assert_eq!((status, text.as_str()), (204, ""), "204 carries no body");
}

#[tokio::test]
async fn a_repeated_delivery_gets_the_first_ones_execution_even_when_every_place_is_taken() {
    let app = spawn_app_with_settings(vec![("registry.webhook_max_waiting", "1".into())]).await;
    let created = waiting_workflow(&app, json!({"respond": "when_finished"})).await;
    let hook = hook_path(&created);
    let waiting = call_in_background_with(&app, &hook, &[("idempotency-key", "delivery-1")]);
    let execution_id = announced(&app, 1).await;

    // The sender gave up waiting and retries the same delivery: the one place is still taken.
    let (status, body) = app
        .call_hook(&hook, "{}", &[("idempotency-key", "delivery-1")])
        .await;

    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body,
        json!({"execution_id": execution_id, "duplicate": true})
    );
    // Another delivery is still refused, and nothing else started.
    let (status, body) = app
        .call_hook(&hook, "{}", &[("idempotency-key", "delivery-2")])
        .await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "SERVICE_UNAVAILABLE");
    assert_eq!(app.announced_jobs().await.len(), 1, "nothing else started");
    publish(
        &app,
        responded(&execution_id, 200, json!({}), json!("done")),
    )
    .await;
    let (status, _, text, _) = waiting.await.unwrap();
    assert_eq!((status, text.as_str()), (200, "done"));
}

#[tokio::test]
async fn respond_nodes_are_refused_without_a_waiting_webhook_or_with_a_bad_status() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let with = |trigger: Value, respond: Value| {
        let mut flow = flow_with_trigger("trigger.webhook", trigger);
        flow["nodes"][1] = json!({"id": "set", "type": "action.respond", "position": {"x": 0, "y": 0},
            "data": {"label": "reply", "config": respond}});
        workflow_body("bad", chatbot, flow)
    };
    let cases = [
        (
            with(json!({}), json!({"status": 200})),
            "flow_definition.nodes[1].type",
        ),
        (
            with(json!({"respond": "immediately"}), json!({})),
            "flow_definition.nodes[1].type",
        ),
        (
            with(json!({"respond": "when_finished"}), json!({"status": 99})),
            "flow_definition.nodes[1].data.config.status",
        ),
        (
            with(json!({"respond": "when_finished"}), json!({"status": 600})),
            "flow_definition.nodes[1].data.config.status",
        ),
        (
            with(
                json!({"respond": "when_finished"}),
                json!({"headers": {"Connection": "close"}}),
            ),
            "flow_definition.nodes[1].data.config.headers.Connection",
        ),
        (
            with(
                json!({"respond": "when_finished"}),
                json!({"headers": {"X-Echoflow-Execution-Id": "forged"}}),
            ),
            "flow_definition.nodes[1].data.config.headers.X-Echoflow-Execution-Id",
        ),
        (
            with(json!({"respond": "sometimes"}), json!({})),
            "flow_definition.nodes[0].data.config.respond",
        ),
    ];
    for (body, fault_path) in cases {
        let (status, answer) = app.create_workflow(&body).await;
        assert_eq!(status, 422, "{fault_path}: {answer}");
        assert_error(&answer, "INVALID_WORKFLOW");
        let paths: Vec<&str> = answer["error"]["details"]["faults"]
            .as_array()
            .map(|f| f.iter().filter_map(|f| f["path"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            answer["error"]["details"]["path"] == fault_path || paths.contains(&fault_path),
            "{fault_path}: {answer}"
        );
    }
}
