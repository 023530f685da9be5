//! Run with: cargo test -p echoflow-executor --test api step_failures
//!
//! A step that fails, as `GET /api/v1/executions/{id}` shows it: timeouts
//! and 5xx retried, `on_error: continue` leaving by the error handle, and an
//! idempotency key that stays the same across attempts.

use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// webhook -> call (http, retried, 100 ms timeout) -> after; call -(error)-> fallback.
fn slow_call_flow(server: &MockServer, on_error: &str) -> Workflow {
    let mut config = json!({
        "method": "GET",
        "url": format!("{}/slow", server.uri()),
        "retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10},
        "timeout_ms": 100
    });
    let mut edges = vec![edge("hook", "call"), edge("call", "after")];
    if on_error == "continue" {
        config["on_error"] = json!("continue");
        edges.push(edge_by("call", "error", "fallback"));
    }
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node("call", "action.http_request", config),
            node("after", "action.set", json!({"values": {"ran": true}})),
            node(
                "fallback",
                "action.set",
                json!({"values": {"recovered_from": "{{ steps.call.output.error }}"}}),
            ),
        ],
        edges,
    ))
}

async fn mount_slow(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(1)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_step_that_keeps_timing_out_is_retried_then_fails_the_execution() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    mount_slow(&server).await;
    let workflow = slow_call_flow(&server, "fail");

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    let error = execution["error"].as_str().unwrap();
    assert!(error.contains("step 'call' failed"), "{error}");
    assert_eq!(
        step_ids(&execution),
        ["call"],
        "nothing runs after the failure"
    );
    let call = step(&execution, "call");
    assert_eq!(call["status"], "failed");
    assert_eq!(call["attempts"], 3);
    assert_eq!(call["output"], Value::Null);
    assert!(
        call["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{call}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "one request per attempt"
    );
}

#[tokio::test]
async fn on_error_continue_records_the_failure_and_leaves_by_the_error_handle() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    mount_slow(&server).await;
    let workflow = slow_call_flow(&server, "continue");

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["error"], Value::Null);
    assert_eq!(
        step_ids(&execution),
        ["call", "fallback"],
        "the default output does not fire when the step failed"
    );
    let call = step(&execution, "call");
    assert_eq!(call["status"], "failed");
    assert_eq!(call["attempts"], 3);
    let error = call["error"].as_str().unwrap();
    assert!(!error.is_empty());
    assert_eq!(
        call["output"],
        json!({"error": error, "class": "transient"})
    );
    let fallback = step(&execution, "fallback");
    assert_eq!(fallback["status"], "completed");
    assert_eq!(fallback["output"], json!({"recovered_from": error}));
}

#[tokio::test]
async fn a_timeout_followed_by_an_answer_completes_on_the_second_attempt() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    // The first request hangs past the step's timeout; every later one answers.
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .with_priority(2)
        .mount(&server)
        .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "call",
                "action.http_request",
                json!({
                    "method": "GET",
                    "url": format!("{}/flaky", server.uri()),
                    "retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10},
                    "timeout_ms": 200
                }),
            ),
        ],
        vec![edge("hook", "call")],
    ));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let call = step(&execution, "call");
    assert_eq!(call["status"], "completed");
    assert_eq!(call["attempts"], 2);
    assert_eq!(call["error"], Value::Null);
    assert_eq!(call["output"]["body"], json!({"ok": true}));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_5xx_is_retried_then_fails_unless_statuses_are_results() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/broken"))
        .respond_with(ResponseTemplate::new(503).set_body_string("try later"))
        .expect(4)
        .mount(&server)
        .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "call",
                "action.http_request",
                json!({
                    "method": "GET",
                    "url": format!("{}/broken", server.uri()),
                    "retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}
                }),
            ),
        ],
        vec![edge("hook", "call")],
    ));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    // A 5xx is a transient error: retried by the node's policy, then the run fails.
    assert_eq!(execution["status"], "failed", "{execution}");
    let call = step(&execution, "call");
    assert_eq!(call["status"], "failed");
    assert_eq!(call["attempts"], 3);
    assert!(
        call["error"]
            .as_str()
            .is_some_and(|e| e.contains("503") && e.contains("try later")),
        "{call}"
    );

    // With fail_on_error_status false any status is a result.
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "call",
                "action.http_request",
                json!({
                    "method": "GET",
                    "url": format!("{}/broken", server.uri()),
                    "fail_on_error_status": false
                }),
            ),
        ],
        vec![edge("hook", "call")],
    ));
    let execution = app.run(&workflow.job(&user, json!({})), &user).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let call = step(&execution, "call");
    assert_eq!(call["attempts"], 1);
    assert_eq!(call["output"]["status"], 503);
    assert_eq!(call["output"]["body"], "try later");
}

#[tokio::test]
async fn http_steps_send_an_idempotency_key_stable_across_attempts() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "call",
                "action.http_request",
                json!({
                    "method": "GET",
                    "url": format!("{}/flaky", server.uri()),
                    "timeout_ms": 100,
                    "retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}
                }),
            ),
        ],
        vec![edge("hook", "call")],
    ));
    let job = workflow.job(&user, json!({}));

    let execution = app.run(&job, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step(&execution, "call")["attempts"], 2);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let expected = format!("{}:call", job.execution_id);
    for request in &requests {
        let key = request
            .headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            key.as_deref(),
            Some(expected.as_str()),
            "the same key on every attempt"
        );
    }
}
