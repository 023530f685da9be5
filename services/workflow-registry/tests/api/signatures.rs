//! Run with: cargo test -p echoflow-workflow-registry --test api signatures
//!
//! Webhook signatures: the plain scheme needs its `sha256=` prefix; the
//! timestamped scheme (`t=<unix>,v1=<hex>` over `"<t>.<body>"`) refuses a
//! delivery outside the tolerance and answers a replay within it with the
//! first delivery's execution.

use echoflow_workflow_registry::webhook_signature::{sign_sha256, sign_timestamped};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_on_sqlite};

const SECRET: &str = "a-shared-webhook-secret";

async fn assert_refused(app: &TestApp, hook: &str, body: &str, header: &str, why: &str) {
    let (status, answer) = app
        .call_hook(hook, body, &[("x-echoflow-signature", header)])
        .await;
    assert_eq!(status, 401, "{why}: {answer}");
    assert_error(&answer, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_plain_signature_without_its_sha256_prefix_is_refused() {
    let app = spawn_app().await;
    let hook = app.webhook_path(json!({"hmac_secret": SECRET})).await;
    let body = r#"{"order": 1}"#;
    let signed = sign_sha256(SECRET.as_bytes(), body.as_bytes());
    let bare = signed.strip_prefix("sha256=").unwrap();

    assert_refused(&app, &hook, body, bare, "bare hex").await;
    assert!(app.announced_jobs().await.is_empty(), "nothing ran");

    let (status, answer) = app
        .call_hook(&hook, body, &[("x-echoflow-signature", &signed)])
        .await;
    assert_eq!(status, 202, "{answer}");
}

async fn a_timestamped_signature_holds_within_its_tolerance_only_on(app: TestApp) {
    let hook = app
        .webhook_path(json!({"hmac_secret": SECRET, "signature_scheme": "timestamped"}))
        .await;
    let body = r#"{"order": 2}"#;
    let now = chrono::Utc::now().timestamp();
    let secret = SECRET.as_bytes();

    let fresh = sign_timestamped(secret, now, body.as_bytes());
    let (status, first) = app
        .call_hook(&hook, body, &[("x-echoflow-signature", &fresh)])
        .await;
    assert_eq!(status, 202, "{first}");
    app.wait_for_announcement(first["execution_id"].as_str().unwrap())
        .await;

    // The same delivery again: answered with the first execution, nothing new runs.
    let (status, replay) = app
        .call_hook(&hook, body, &[("x-echoflow-signature", &fresh)])
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["execution_id"], first["execution_id"]);
    assert_eq!(replay["duplicate"], true);

    // Well past the 300 s either way: the server's clock reads a moment later than ours.
    let stale = sign_timestamped(secret, now - 400, body.as_bytes());
    assert_refused(&app, &hook, body, &stale, "older than the tolerance").await;
    let early = sign_timestamped(secret, now + 400, body.as_bytes());
    assert_refused(&app, &hook, body, &early, "too far ahead").await;
    let plain = sign_sha256(secret, body.as_bytes());
    assert_refused(&app, &hook, body, &plain, "the other scheme").await;
    let wrong = sign_timestamped(b"wrong", now, body.as_bytes());
    assert_refused(&app, &hook, body, &wrong, "another secret").await;
    let moved = fresh.replacen(&format!("t={now}"), &format!("t={}", now - 1), 1);
    assert_refused(&app, &hook, body, &moved, "the time is signed").await;
    assert_refused(&app, &hook, body, "t=,v1=,,==", "malformed").await;

    assert_eq!(app.announced_jobs().await.len(), 1, "one execution in all");
}

#[tokio::test]
async fn a_timestamped_signature_holds_within_its_tolerance_only() {
    a_timestamped_signature_holds_within_its_tolerance_only_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_timestamped_signature_holds_within_its_tolerance_only_on_sqlite() {
    a_timestamped_signature_holds_within_its_tolerance_only_on(spawn_app_on_sqlite().await).await;
}
