//! Run with: cargo test -p echoflow-executor --test api control::cancel
//!
//! Cancel stops a running delay, or an HTTP request in flight, and nothing
//! after it runs.

use serde_json::json;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{call_flow, post, scripted, status, wait_status};
use crate::helpers::*;

#[tokio::test]
async fn cancel_stops_a_running_delay_and_nothing_after_it_runs() {
    cancel_delay_on(spawn_app().await).await;
}

#[tokio::test]
async fn cancel_stops_a_running_delay_and_nothing_after_it_runs_on_postgres_and_rabbitmq() {
    cancel_delay_on(spawn_distributed_app().await).await;
}

async fn cancel_delay_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(200)]).await;
    let flow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("wait", "action.delay", json!({"duration_ms": 60_000})),
            node(
                "call",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/call", server.uri())}),
            ),
        ],
        vec![edge("hook", "wait"), edge("wait", "call")],
    ));
    let job = flow.job(&user, json!({}));
    app.publish_job(&job).await;
    let running = wait_status(&app, &job.execution_id, &user, "running").await;
    assert_eq!(step(&running, "wait")["status"], "waiting", "{running}");

    let (code, body) = post(
        &app,
        &format!("/api/v1/executions/{}/cancel", job.execution_id),
        &user,
        json!({}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let done = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(done["status"], "cancelled");
    // Cancelling again is a conflict; another user's cancel is a 404.
    let (code, _) = post(
        &app,
        &format!("/api/v1/executions/{}/cancel", job.execution_id),
        &user,
        json!({}),
    )
    .await;
    assert_eq!(code, 409);
    let (code, _) = post(
        &app,
        &format!("/api/v1/executions/{}/cancel", job.execution_id),
        &TestUser::new(),
        json!({}),
    )
    .await;
    assert_eq!(code, 404);
    // The run that was cancelled never reaches its HTTP step, even when its job comes again.
    app.publish_job(&job).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(script.times().is_empty());
}

#[tokio::test]
async fn cancel_aborts_an_http_request_in_flight() {
    cancel_in_flight_on(spawn_app().await).await;
}

#[tokio::test]
async fn cancel_aborts_an_http_request_in_flight_on_postgres_and_rabbitmq() {
    cancel_in_flight_on(spawn_distributed_app().await).await;
}

async fn cancel_in_flight_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(20)))
        .mount(&server)
        .await;
    let (after, after_script) = scripted(vec![status(200)]).await;
    let flow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "slow",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/slow", server.uri()), "timeout_ms": 30000}),
            ),
            node(
                "next",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/call", after.uri())}),
            ),
        ],
        vec![edge("hook", "slow"), edge("slow", "next")],
    ));
    let job = flow.job(&user, json!({}));
    app.publish_job(&job).await;
    // Wait until the slow request is in flight.
    let deadline = Instant::now() + DEADLINE;
    while server.received_requests().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let (code, _) = post(
        &app,
        &format!("/api/v1/executions/{}/cancel", job.execution_id),
        &user,
        json!({}),
    )
    .await;
    assert_eq!(code, 202);
    let done = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    // The worker lets go of the request within a poll of the cancel.
    let other = app
        .run(&call_flow(&after, json!({})).job(&user, json!({})), &user)
        .await;
    assert_eq!(other["status"], "completed");
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert_eq!(
        after_script.times().len(),
        1,
        "only the other run called; 'next' never ran"
    );
}
