//! Run with: cargo test -p echoflow-workflow-registry --test api dedupe
//!
//! A webhook delivery sent again (the same idempotency key, or the same body
//! when the trigger asks for it) is answered with the first delivery's
//! execution and starts nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use echoflow_bus::topology::EXECUTOR_JOBS;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_on_sqlite};

const QUIET: Duration = Duration::from_millis(400);

fn execution(body: &Value) -> String {
    body["execution_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_same_delivery_twice_starts_one_execution() {
    the_same_delivery_twice_starts_one_execution_on(spawn_app().await).await;
}

#[tokio::test]
async fn the_same_delivery_twice_starts_one_execution_on_sqlite() {
    the_same_delivery_twice_starts_one_execution_on(spawn_app_on_sqlite().await).await;
}

async fn the_same_delivery_twice_starts_one_execution_on(app: TestApp) {
    let path = app.webhook_path(json!({})).await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    let delivery = [("idempotency-key", "evt-1001")];

    let (status, first) = app.call_hook(&path, r#"{"n": 1}"#, &delivery).await;
    assert_eq!(status, 202, "{first}");
    assert!(first.get("duplicate").is_none(), "{first}");
    let (status, again) = app.call_hook(&path, r#"{"n": 1}"#, &delivery).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(execution(&again), execution(&first));
    assert_eq!(again["duplicate"], true);

    // Retries racing each other still start one run.
    let racing: Vec<_> = (0..6)
        .map(|_| app.call_hook(&path, r#"{"n": 1}"#, &[("idempotency-key", "evt-1002")]))
        .collect();
    let answers = futures::future::join_all(racing).await;
    let ids: BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202, "{body}");
            execution(body)
        })
        .collect();
    assert_eq!(ids.len(), 1, "one execution for one key: {answers:?}");

    // Exactly two jobs reached the bus, and the executor heard of two.
    let mut seen = BTreeSet::new();
    seen.insert(jobs.next_job().await.execution_id);
    seen.insert(jobs.next_job().await.execution_id);
    jobs.assert_none_within(QUIET).await;
    assert_eq!(
        seen,
        BTreeSet::from([execution(&first), ids.into_iter().next().unwrap()])
    );
    assert_eq!(app.announced_jobs().await.len(), 2);
}

#[tokio::test]
async fn without_a_key_every_delivery_runs_and_another_key_is_another_run() {
    let app = spawn_app().await;
    let path = app.webhook_path(json!({})).await;
    let (_, a) = app.call_hook(&path, r#"{"n": 1}"#, &[]).await;
    let (_, b) = app.call_hook(&path, r#"{"n": 1}"#, &[]).await;
    assert_ne!(execution(&a), execution(&b), "no key, no deduplication");
    let (_, c) = app
        .call_hook(&path, r#"{"n": 1}"#, &[("idempotency-key", "k1")])
        .await;
    let (_, d) = app
        .call_hook(&path, r#"{"n": 1}"#, &[("idempotency-key", "k2")])
        .await;
    assert_ne!(execution(&c), execution(&d));
    // The same key on another workflow is another delivery.
    let other = app.webhook_path(json!({})).await;
    let (_, e) = app
        .call_hook(&other, r#"{"n": 1}"#, &[("idempotency-key", "k1")])
        .await;
    assert_ne!(execution(&c), execution(&e));
    assert_eq!(app.announced_jobs().await.len(), 5);
}

#[tokio::test]
async fn a_trigger_can_name_its_header_and_deduplicate_by_payload() {
    let app = spawn_app().await;
    let path = app
        .webhook_path(json!({"idempotency_header": "X-Delivery-Id", "dedupe_payload": true}))
        .await;
    let (_, a) = app
        .call_hook(&path, r#"{"order": 1}"#, &[("x-delivery-id", "d-1")])
        .await;
    let (_, b) = app
        .call_hook(&path, r#"{"order": 2}"#, &[("x-delivery-id", "d-1")])
        .await;
    assert_eq!(execution(&a), execution(&b), "the header decides");
    let (_, c) = app.call_hook(&path, r#"{"order": 3}"#, &[]).await;
    let (_, d) = app.call_hook(&path, r#"{"order": 3}"#, &[]).await;
    assert_eq!(execution(&c), execution(&d), "byte-identical body");
    assert_eq!(d["duplicate"], true);
    let (_, e) = app.call_hook(&path, r#"{"order": 4}"#, &[]).await;
    assert_ne!(execution(&c), execution(&e));
    assert_eq!(app.announced_jobs().await.len(), 3);
}

#[tokio::test]
async fn a_delivery_after_the_window_runs_again() {
    let app = spawn_app().await;
    let path = app.webhook_path(json!({"dedupe_window_seconds": 1})).await;
    let key = [("idempotency-key", "late")];
    let (_, a) = app.call_hook(&path, "{}", &key).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, b) = app.call_hook(&path, "{}", &key).await;
    assert_ne!(execution(&a), execution(&b), "the window has passed");
    let (_, c) = app.call_hook(&path, "{}", &key).await;
    assert_eq!(execution(&b), execution(&c));
}

#[tokio::test]
async fn an_oversized_key_is_refused_and_starts_nothing() {
    let app = spawn_app().await;
    let path = app.webhook_path(json!({})).await;
    let long = "k".repeat(256);
    let (status, body) = app
        .call_hook(&path, "{}", &[("idempotency-key", &long)])
        .await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "VALIDATION_ERROR");
    assert!(app.announced_jobs().await.is_empty());
}
