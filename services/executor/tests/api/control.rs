//! Run with: cargo test -p echoflow-executor --test api control
//!
//! Retries by error class (counted and timed at the server), durable waits
//! that hold no worker, cancel, retry from the failed step, dead letters and
//! their replay, and the concurrency limit of a workflow.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// Answers with `statuses` in turn (the last one for ever after) and records
/// when each request came.
#[derive(Clone)]
struct Script {
    statuses: Vec<ResponseTemplate>,
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    fn new(statuses: Vec<ResponseTemplate>) -> Self {
        Self {
            statuses,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn times(&self) -> Vec<Instant> {
        self.seen.lock().unwrap().clone()
    }

    /// The gaps between consecutive requests.
    fn gaps(&self) -> Vec<Duration> {
        self.times().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        let i = (seen.len() - 1).min(self.statuses.len() - 1);
        self.statuses[i].clone()
    }
}

async fn scripted(statuses: Vec<ResponseTemplate>) -> (MockServer, Script) {
    let server = MockServer::start().await;
    let script = Script::new(statuses);
    Mock::given(path("/call"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    (server, script)
}

fn call_flow(server: &MockServer, extra: Value) -> Workflow {
    let mut config = json!({"method": "POST", "url": format!("{}/call", server.uri())});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    Workflow::new(definition(
        vec![webhook("hook"), node("call", "action.http_request", config)],
        vec![edge("hook", "call")],
    ))
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"code": code}))
}

async fn post(app: &TestApp, path: &str, user: &TestUser, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, user: &TestUser) -> Value {
    let response = app.get(path, Some(&user.token)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// Polls until the execution's status is `want` (15 s at most).
async fn wait_status(app: &TestApp, id: &str, user: &TestUser, want: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let execution: Value = app.get_execution(id, user).await.json().await.unwrap();
        if execution["status"] == want {
            return execution;
        }
        assert!(Instant::now() < deadline, "never {want}: {execution}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

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

#[tokio::test]
async fn a_failed_execution_is_retried_from_its_failed_step_with_a_new_input() {
    retry_with_input_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_failed_execution_is_retried_from_its_failed_step_with_a_new_input_on_postgres_and_rabbitmq()
 {
    retry_with_input_on(spawn_distributed_app().await).await;
}

async fn retry_with_input_on(app: TestApp) {
    let user = TestUser::new();
    let (first_server, first) = scripted(vec![status(200)]).await;
    let second_server = MockServer::start().await;
    Mock::given(path("/bad"))
        .respond_with(status(400))
        .mount(&second_server)
        .await;
    let (good_server, good) = scripted(vec![status(200)]).await;
    let flow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "one",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/call", first_server.uri())}),
            ),
            node(
                "two",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/bad", second_server.uri())}),
            ),
        ],
        vec![edge("hook", "one"), edge("one", "two")],
    ));
    let job = flow.job(&user, json!({}));
    let failed = app.run(&job, &user).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let fixed_input = json!({"method": "POST", "url": format!("{}/call", good_server.uri())});
    let (code, body) = post(
        &app,
        &format!("/api/v1/executions/{}/retry", job.execution_id),
        &user,
        json!({"from": "failed_step", "input": fixed_input}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["retry_of"], job.execution_id.as_str());
    let retry_id = body["execution_id"].as_str().unwrap();
    let retried = app.wait_final(retry_id, &user).await;
    assert_eq!(retried["status"], "completed", "{retried}");
    assert_eq!(retried["retry_of"], job.execution_id.as_str());
    assert_eq!(step(&retried, "two")["input"], fixed_input);
    assert_eq!(
        first.times().len(),
        1,
        "the completed step was not run again"
    );
    assert_eq!(good.times().len(), 1);

    // From the start, everything runs again (and fails again at 'two').
    let (code, body) = post(
        &app,
        &format!("/api/v1/executions/{}/retry", job.execution_id),
        &user,
        json!({"from": "start"}),
    )
    .await;
    assert_eq!(code, 202);
    let again = app
        .wait_final(body["execution_id"].as_str().unwrap(), &user)
        .await;
    assert_eq!(again["status"], "failed");
    assert_eq!(first.times().len(), 2);
    // A completed execution cannot be retried.
    let (code, _) = post(
        &app,
        &format!("/api/v1/executions/{retry_id}/retry"),
        &user,
        json!({}),
    )
    .await;
    assert_eq!(code, 409);
}

#[tokio::test]
async fn a_failed_execution_is_a_dead_letter_that_replays_to_completion() {
    dead_letter_replay_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_failed_execution_is_a_dead_letter_that_replays_to_completion_on_postgres_and_rabbitmq() {
    dead_letter_replay_on(spawn_distributed_app().await).await;
}

async fn dead_letter_replay_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(503)]).await;
    let flow = call_flow(
        &server,
        json!({"retry": {"max_attempts": 2, "backoff": "fixed", "delay_ms": 10}}),
    );
    let job = flow.job(&user, json!({"order": 7}));
    let failed = app.run(&job, &user).await;
    assert_eq!(failed["status"], "failed");

    let list = get(&app, "/api/v1/dead-letters", &user).await;
    assert_eq!(list["total"], 1, "{list}");
    let letter = &list["items"][0];
    assert_eq!(letter["execution_id"], job.execution_id.as_str());
    assert_eq!(letter["failed_step"], "call");
    assert_eq!(letter["attempts"], 2);
    assert_eq!(letter["workflow_version"], 1);
    assert_eq!(letter["reason"], "execution_failed");
    assert!(letter["error"].as_str().unwrap().contains("503"));
    let id = letter["id"].as_str().unwrap();
    let one = get(&app, &format!("/api/v1/dead-letters/{id}"), &user).await;
    assert_eq!(one["input"]["url"], format!("{}/call", server.uri()));
    let stranger = TestUser::new();
    assert_eq!(
        app.get(&format!("/api/v1/dead-letters/{id}"), Some(&stranger.token))
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&app, "/api/v1/dead-letters", &stranger).await["total"],
        0
    );

    // The server recovers; replaying by workflow runs the failed step again.
    server.reset().await;
    Mock::given(path("/call"))
        .respond_with(status(200))
        .mount(&server)
        .await;
    let (code, body) = post(
        &app,
        "/api/v1/dead-letters/replay",
        &user,
        json!({"workflow_id": flow.id}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["replayed"].as_array().unwrap().len(), 1, "{body}");
    let replay_id = body["replayed"][0]["execution_id"].as_str().unwrap();
    let replayed = app.wait_final(replay_id, &user).await;
    assert_eq!(replayed["status"], "completed", "{replayed}");
    assert_eq!(replayed["retry_of"], job.execution_id.as_str());
    let letter = get(&app, &format!("/api/v1/dead-letters/{id}"), &user).await;
    assert_eq!(letter["replay_execution_id"], replay_id);
    assert!(letter["replayed_at"].is_string());
    // Replaying it again does nothing.
    let (_, body) = post(
        &app,
        "/api/v1/dead-letters/replay",
        &user,
        json!({"ids": [id]}),
    )
    .await;
    assert_eq!(body["replayed"], json!([]));
    assert_eq!(body["skipped"], json!([id]));
    assert_eq!(script.times().len(), 2, "two attempts before the replay");
}

#[tokio::test]
async fn the_concurrency_limit_holds_under_a_hundred_triggers() {
    concurrency_limit_on(spawn_app().await).await;
}

#[tokio::test]
async fn the_concurrency_limit_holds_under_a_hundred_triggers_on_postgres_and_rabbitmq() {
    concurrency_limit_on(spawn_distributed_app().await).await;
}

async fn concurrency_limit_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(path("/work"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(40)))
        .mount(&server)
        .await;
    let mut definition = definition(
        vec![
            webhook("hook"),
            node(
                "work",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/work", server.uri())}),
            ),
        ],
        vec![edge("hook", "work")],
    );
    definition["settings"] = json!({"max_concurrency": 3});
    let flow = Workflow::new(definition);
    let jobs: Vec<_> = (0..100).map(|i| flow.job(&user, json!({"n": i}))).collect();
    for job in &jobs {
        app.publish_job(job).await;
    }
    let mut spans = Vec::new();
    for job in &jobs {
        let execution = app
            .wait_final_within(&job.execution_id, &user, Duration::from_secs(60))
            .await;
        assert_eq!(execution["status"], "completed", "{execution}");
        let start = chrono::DateTime::parse_from_rfc3339(execution["started_at"].as_str().unwrap())
            .unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(execution["completed_at"].as_str().unwrap())
            .unwrap();
        spans.push((start, end));
    }
    // At no moment were more than 3 running.
    let mut most = 0;
    for (start, _) in &spans {
        let running = spans
            .iter()
            .filter(|(s, e)| s <= start && start < e)
            .count();
        most = most.max(running);
    }
    assert!(most <= 3, "{most} ran at once");
    assert!(most >= 2, "the limit still lets runs overlap ({most})");
    assert_eq!(server.received_requests().await.unwrap().len(), 100);
}

#[tokio::test]
async fn executions_older_than_the_retention_are_pruned_with_their_steps() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let (server, _) = scripted(vec![status(200)]).await;
    let job = call_flow(&server, json!({})).job(&user, json!({}));
    let done = app.run(&job, &user).await;
    assert_eq!(done["status"], "completed");
    let db = echoflow_service_kit::db::connect(
        &secrecy::SecretString::from(format!("sqlite://{}?mode=rwc", app.db_path.display())),
        "executions",
        1,
    )
    .await
    .unwrap();
    // Nothing is old enough yet.
    let kept = echoflow_executor::background::retention::prune(
        &db,
        chrono::Utc::now() - chrono::Duration::days(1),
    )
    .await
    .unwrap();
    assert_eq!(kept, 0);
    let pruned = echoflow_executor::background::retention::prune(
        &db,
        chrono::Utc::now() + chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(
        app.get_execution(&job.execution_id, &user).await.status(),
        404
    );
}

/// A replay body that does not parse, or names nothing, replays nothing;
/// replaying every dead letter takes `{"all": true}`.
#[tokio::test]
async fn a_replay_body_that_does_not_parse_or_names_nothing_replays_nothing() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(path("/call"))
        .respond_with(status(503))
        .mount(&server)
        .await;
    let flow = call_flow(&server, json!({}));
    let job = flow.job(&user, json!({}));
    assert_eq!(app.run(&job, &user).await["status"], "failed");
    let list = get(&app, "/api/v1/dead-letters", &user).await;
    assert_eq!(list["total"], 1, "{list}");
    let id = list["items"][0]["id"].as_str().unwrap().to_string();

    let url = format!("{}/api/v1/dead-letters/replay", app.address);
    for (content_type, body, expected) in [
        (Some("application/json"), r#"{"ids": ["#, 400),
        (Some("application/xml"), r#"<replay all="true"/>"#, 400),
        (Some("application/json"), "", 400),
        (None, "", 400),
        (Some("application/json"), "{}", 422),
        (Some("application/json"), r#"{"all": false}"#, 422),
        (Some("application/json"), r#"{"every": true}"#, 422),
        (Some("application/json"), "[]", 422),
    ] {
        let mut request = app.client.post(&url).bearer_auth(&user.token);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.body(body).send().await.unwrap();
        let code = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(code, expected, "{content_type:?} {body:?}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{body:?}: {answer}");
        let letter = get(&app, &format!("/api/v1/dead-letters/{id}"), &user).await;
        assert!(
            letter["replayed_at"].is_null(),
            "{body:?} replayed {letter}"
        );
    }

    let (code, body) = post(
        &app,
        "/api/v1/dead-letters/replay",
        &user,
        json!({"all": true}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["replayed"][0]["dead_letter_id"], id.as_str(), "{body}");
}
