//! Run with: cargo test -p echoflow-executor --test api control::retries
//!
//! Retries by error class, counted and timed at the server: transient errors
//! back off exponentially, a 429 waits as long as the server asks or backs
//! off linearly, a configuration error fails at once; a waiting retry holds
//! no worker.

use serde_json::json;
use std::time::{Duration, Instant};

use super::{call_flow, scripted, status, wait_status};
use crate::helpers::*;

#[tokio::test]
async fn transient_errors_are_retried_three_times_with_exponential_backoff() {
    transient_retries_on(spawn_app().await).await;
}

#[tokio::test]
async fn transient_errors_are_retried_three_times_with_exponential_backoff_on_postgres_and_rabbitmq()
 {
    transient_retries_on(spawn_distributed_app().await).await;
}

async fn transient_retries_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(503), status(502), status(500), status(200)]).await;
    let execution = app
        .run(&call_flow(&server, json!({})).job(&user, json!({})), &user)
        .await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step(&execution, "call")["attempts"], 4);
    let gaps = script.gaps();
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    // 500 ms, 1 s, 2 s, each within +-20% jitter and some scheduling slack.
    for (gap, want) in gaps.iter().zip([500u64, 1000, 2000]) {
        let ms = gap.as_millis() as u64;
        assert!(
            ms >= want * 8 / 10 && ms <= want * 12 / 10 + 400,
            "{gaps:?}"
        );
    }
}

#[tokio::test]
async fn a_transient_error_that_persists_fails_after_three_retries() {
    persisting_error_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_transient_error_that_persists_fails_after_three_retries_on_postgres_and_rabbitmq() {
    persisting_error_on(spawn_distributed_app().await).await;
}

async fn persisting_error_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(503)]).await;
    let execution = app
        .run(&call_flow(&server, json!({})).job(&user, json!({})), &user)
        .await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(step(&execution, "call")["attempts"], 4);
    assert_eq!(script.times().len(), 4);
}

#[tokio::test]
async fn a_configuration_error_fails_at_once() {
    configuration_error_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_configuration_error_fails_at_once_on_postgres_and_rabbitmq() {
    configuration_error_on(spawn_distributed_app().await).await;
}

async fn configuration_error_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(400)]).await;
    // Even a node policy that allows retries does not retry a 400.
    let flow = call_flow(
        &server,
        json!({"retry": {"max_attempts": 5, "backoff": "fixed", "delay_ms": 10}}),
    );
    let execution = app.run(&flow.job(&user, json!({})), &user).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    let call = step(&execution, "call");
    assert_eq!(call["attempts"], 1);
    assert!(call["error"].as_str().unwrap().contains("400"), "{call}");
    assert_eq!(script.times().len(), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_waits_as_long_as_the_server_asks() {
    retry_after_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_429_with_retry_after_waits_as_long_as_the_server_asks_on_postgres_and_rabbitmq() {
    retry_after_on(spawn_distributed_app().await).await;
}

async fn retry_after_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![
        status(429).insert_header("Retry-After", "2"),
        status(200),
    ])
    .await;
    let execution = app
        .run(&call_flow(&server, json!({})).job(&user, json!({})), &user)
        .await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let gap = script.gaps()[0];
    assert!(
        gap >= Duration::from_millis(1950) && gap < Duration::from_millis(3000),
        "{gap:?}"
    );
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_linearly() {
    linear_backoff_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_linearly_on_postgres_and_rabbitmq() {
    linear_backoff_on(spawn_distributed_app().await).await;
}

async fn linear_backoff_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(429), status(429), status(200)]).await;
    let execution = app
        .run(&call_flow(&server, json!({})).job(&user, json!({})), &user)
        .await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let gaps = script.gaps();
    // 1 s then 2 s, within +-20% jitter.
    assert!(
        gaps[0] >= Duration::from_millis(800) && gaps[0] < Duration::from_millis(1600),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(1600) && gaps[1] < Duration::from_millis(2800),
        "{gaps:?}"
    );
}

#[tokio::test]
async fn a_waiting_retry_holds_no_worker() {
    waiting_retry_on(false).await;
}

#[tokio::test]
async fn a_waiting_retry_holds_no_worker_on_postgres_and_rabbitmq() {
    waiting_retry_on(true).await;
}

async fn waiting_retry_on(distributed: bool) {
    // One worker: while the first run waits out its backoff, a second runs.
    let app = spawn_app_with(Options {
        concurrency: 1,
        distributed,
        ..Options::default()
    })
    .await;
    let user = TestUser::new();
    let (slow_server, _) = scripted(vec![status(503), status(503), status(200)]).await;
    let waiting = call_flow(
        &slow_server,
        json!({"retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 1500}}),
    )
    .job(&user, json!({}));
    app.publish_job(&waiting).await;
    wait_status(&app, &waiting.execution_id, &user, "running").await;
    let (fast_server, _) = scripted(vec![status(200)]).await;
    let started = Instant::now();
    let quick = app
        .run(
            &call_flow(&fast_server, json!({})).job(&user, json!({})),
            &user,
        )
        .await;
    assert_eq!(quick["status"], "completed");
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "the second run did not wait for the first one's backoff"
    );
    let first = app.wait_final(&waiting.execution_id, &user).await;
    assert_eq!(first["status"], "completed", "{first}");
}
