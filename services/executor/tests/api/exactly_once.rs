//! Run with: cargo test -p echoflow-executor --test api
//!
//! A job delivered again never runs its steps again.

use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// One job at a time, so a job published after a duplicate finishes after it.
async fn serial_app() -> TestApp {
    spawn_app_with(Options {
        concurrency: 1,
        ..Options::default()
    })
    .await
}

/// Publishes a one-step job after everything already queued and waits for it:
/// once it finished, so did every job published before it.
async fn drain(app: &TestApp, user: &TestUser) {
    let sentinel = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("mark", "action.set", json!({"values": {"done": true}})),
        ],
        vec![edge("hook", "mark")],
    ));
    let execution = app.run(&sentinel.job(user, json!({})), user).await;
    assert_eq!(execution["status"], "completed", "{execution}");
}

#[tokio::test]
async fn a_completed_job_published_again_runs_nothing_again() {
    let app = serial_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/charge"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"charged": true})))
        .mount(&server)
        .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "charge",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/charge", server.uri())}),
            ),
            node("note", "action.set", json!({"values": {"ok": true}})),
        ],
        vec![edge("hook", "charge"), edge("charge", "note")],
    ));
    let job = workflow.job(&user, json!({}));
    let first = app.run(&job, &user).await;
    assert_eq!(first["status"], "completed", "{first}");

    app.publish_job(&job).await;
    app.publish_job(&job).await;
    drain(&app, &user).await;

    let again = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(again["status"], "completed");
    assert_eq!(step_ids(&again), ["charge", "note"]);
    assert_eq!(again["steps"], first["steps"], "the steps are untouched");
    assert_eq!(again["completed_at"], first["completed_at"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_job_published_again_does_not_repeat_its_completed_step() {
    let app = serial_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/reserve"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"reserved": 1})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/ship"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(1)))
        .mount(&server)
        .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "reserve",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/reserve", server.uri())}),
            ),
            node(
                "ship",
                "action.http_request",
                json!({
                    "method": "POST",
                    "url": format!("{}/ship", server.uri()),
                    "timeout_ms": 100,
                    "retry": {"max_attempts": 1},
                    "on_error": "fail"
                }),
            ),
        ],
        vec![edge("hook", "reserve"), edge("reserve", "ship")],
    ));
    let job = workflow.job(&user, json!({}));
    let first = app.run(&job, &user).await;
    assert_eq!(first["status"], "failed", "{first}");
    assert!(
        first["error"]
            .as_str()
            .is_some_and(|e| e.contains("step 'ship' failed")),
        "{first}"
    );
    assert_eq!(step(&first, "reserve")["status"], "completed");
    assert_eq!(step(&first, "ship")["status"], "failed");

    app.publish_job(&job).await;
    drain(&app, &user).await;

    let again = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(again["status"], "failed");
    assert_eq!(again["error"], first["error"]);
    assert_eq!(again["steps"], first["steps"]);
    let requests = server.received_requests().await.unwrap();
    let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
    assert_eq!(count("/reserve"), 1, "the completed step ran once");
    assert_eq!(count("/ship"), 1, "the failed step ran once");
}

#[tokio::test]
async fn the_same_job_delivered_twice_at_once_runs_its_steps_once() {
    // Both deliveries are taken at once (concurrency 32); the step is slow
    // enough that the second arrives while the first is still running it.
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/charge"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "charge",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/charge", server.uri())}),
            ),
        ],
        vec![edge("hook", "charge")],
    ));
    let job = workflow.job(&user, json!({}));

    app.publish_job(&job).await;
    app.publish_job(&job).await;
    let execution = app.wait_final(&job.execution_id, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step_ids(&execution), ["charge"]);
    assert_eq!(step(&execution, "charge")["attempts"], 1);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "the duplicate delivery must not call the API again"
    );
}
