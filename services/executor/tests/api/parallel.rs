//! Run with: cargo test -p echoflow-executor --test api parallel
//!
//! Branches after a fan-out run at once: a merge waits for all of them, a
//! failing branch fails the execution and abandons the others, a branch
//! that waits (a retry's backoff, a delay) lets the others run on and runs
//! again when due while they still run, and a parked execution resumes for
//! each wait when it is due.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// When a request came, on the test's clock and on the wall clock (to
/// compare with times the executor recorded).
struct Arrival {
    path: String,
    at: Instant,
    wall: DateTime<Utc>,
}

/// The requests of one server, shared by its mocks.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<Arrival>>>);

impl Arrivals {
    fn of(&self, path: &str) -> Vec<(Instant, DateTime<Utc>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.path == path)
            .map(|a| (a.at, a.wall))
            .collect()
    }

    fn count(&self, path: &str) -> usize {
        self.of(path).len()
    }
}

/// Answers with `answers` in turn (the last one for ever after), each
/// after its delay, and records when each request came.
struct Answer {
    arrivals: Arrivals,
    answers: Vec<ResponseTemplate>,
}

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut seen = self.arrivals.0.lock().unwrap();
        let path = request.url.path().to_string();
        let earlier = seen.iter().filter(|a| a.path == path).count();
        seen.push(Arrival {
            path,
            at: Instant::now(),
            wall: Utc::now(),
        });
        self.answers[earlier.min(self.answers.len() - 1)].clone()
    }
}

/// Serves `/{name}` with `answers`, recording arrivals.
async fn serve(
    server: &MockServer,
    arrivals: &Arrivals,
    name: &str,
    answers: Vec<ResponseTemplate>,
) {
    Mock::given(path(format!("/{name}")))
        .respond_with(Answer {
            arrivals: arrivals.clone(),
            answers,
        })
        .mount(server)
        .await;
}

fn answer(side: &str, delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"side": side}))
        .set_delay(delay)
}

fn call(server: &MockServer, name: &str, extra: Value) -> Value {
    let mut config = json!({"method": "POST", "url": format!("{}/{name}", server.uri())});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    config
}

/// How long each side of the fan-out takes to answer.
const SLOW: Duration = Duration::from_secs(1);

#[tokio::test]
async fn branches_after_a_fan_out_run_at_once_and_the_merge_waits_for_both() {
    fan_out_on(spawn_app().await).await;
}

#[tokio::test]
async fn branches_after_a_fan_out_run_at_once_and_the_merge_waits_for_both_on_postgres_and_rabbitmq()
 {
    fan_out_on(spawn_distributed_app().await).await;
}

/// hook -> left, right (HTTP, 1 s each) -> join (merge) -> summary (set).
async fn fan_out_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    serve(&server, &arrivals, "left", vec![answer("left", SLOW)]).await;
    serve(&server, &arrivals, "right", vec![answer("right", SLOW)]).await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "left",
                "action.http_request",
                call(&server, "left", json!({})),
            ),
            node(
                "right",
                "action.http_request",
                call(&server, "right", json!({})),
            ),
            node("join", "flow.merge", json!({})),
            node(
                "summary",
                "action.set",
                json!({"values": {
                    "left": "{{ steps.join.output.left.body.side }}",
                    "right": "{{ steps.join.output.right.body.side }}"
                }}),
            ),
        ],
        vec![
            edge("hook", "left"),
            edge("hook", "right"),
            edge("left", "join"),
            edge("right", "join"),
            edge("join", "summary"),
        ],
    ));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["error"], Value::Null);
    assert_eq!(step_ids(&execution), ["left", "right", "join", "summary"]);
    let join = step(&execution, "join");
    assert_eq!(join["status"], "completed");
    assert_eq!(join["output"]["left"]["body"], json!({"side": "left"}));
    assert_eq!(join["output"]["right"]["body"], json!({"side": "right"}));
    assert_eq!(
        step(&execution, "summary")["output"],
        json!({"left": "left", "right": "right"})
    );
    let (left, right) = (arrivals.of("/left"), arrivals.of("/right"));
    assert_eq!((left.len(), right.len()), (1, 1), "one request per side");
    // Each answer leaves SLOW after its request came: the later request came
    // before the earlier one was answered, so the two were in flight together.
    let (first, second) = if left[0].0 <= right[0].0 {
        (left[0].0, right[0].0)
    } else {
        (right[0].0, left[0].0)
    };
    assert!(
        second < first + SLOW,
        "the second branch started only {:?} after the first, once it was answered",
        second - first
    );
}

#[tokio::test]
async fn a_branch_that_fails_fails_the_execution_and_abandons_the_slow_one() {
    failing_branch_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_branch_that_fails_fails_the_execution_and_abandons_the_slow_one_on_postgres_and_rabbitmq()
 {
    failing_branch_on(spawn_distributed_app().await).await;
}

/// hook -> slow (HTTP, 1 s) -> after_slow (HTTP); hook -> bad (HTTP 400, on_error fail).
async fn failing_branch_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    serve(&server, &arrivals, "slow", vec![answer("slow", SLOW)]).await;
    serve(
        &server,
        &arrivals,
        "after",
        vec![answer("after", Duration::ZERO)],
    )
    .await;
    serve(
        &server,
        &arrivals,
        "bad",
        vec![ResponseTemplate::new(400).set_body_string("no such thing")],
    )
    .await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "slow",
                "action.http_request",
                call(&server, "slow", json!({})),
            ),
            node(
                "after_slow",
                "action.http_request",
                call(&server, "after", json!({})),
            ),
            node(
                "bad",
                "action.http_request",
                call(&server, "bad", json!({"on_error": "fail"})),
            ),
        ],
        vec![
            edge("hook", "slow"),
            edge("slow", "after_slow"),
            edge("hook", "bad"),
        ],
    ));
    let job = workflow.job(&user, json!({}));

    let failed = app.run(&job, &user).await;
    let failed_at = Instant::now();

    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("step 'bad' failed"), "{error}");
    assert_eq!(step(&failed, "bad")["status"], "failed");
    assert_eq!(
        step_ids(&failed),
        ["bad"],
        "the abandoned branch records nothing, like a cancelled step"
    );
    // Well past the time the slow request would have been answered: its
    // successor never ran and nothing was recorded for either.
    let past = failed_at + SLOW + Duration::from_millis(500);
    tokio::time::sleep_until(tokio::time::Instant::from_std(past)).await;
    assert_eq!(
        arrivals.count("/after"),
        0,
        "the slow branch's successor ran"
    );
    assert!(arrivals.count("/slow") <= 1);
    let later = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(later["status"], "failed");
    assert_eq!(later["error"], failed["error"]);
    assert_eq!(
        later["steps"], failed["steps"],
        "nothing written after the failure"
    );
}

#[tokio::test]
async fn a_branch_waiting_out_a_retry_lets_the_other_finish_and_both_complete() {
    retrying_branch_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_branch_waiting_out_a_retry_lets_the_other_finish_and_both_complete_on_postgres_and_rabbitmq()
 {
    retrying_branch_on(spawn_distributed_app().await).await;
}

/// How long the slow side takes when the other side waits and runs again.
const SLOWER: Duration = Duration::from_secs(3);

/// hook -> flaky (503, then 200; a 300 ms backoff between), pause (a
/// 300 ms delay) -> ping (HTTP), slow (HTTP, 3 s) -> join -> done. The
/// waiting branches run again when due while the slow one still runs.
async fn retrying_branch_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    serve(
        &server,
        &arrivals,
        "flaky",
        vec![ResponseTemplate::new(503), answer("flaky", Duration::ZERO)],
    )
    .await;
    serve(&server, &arrivals, "slow", vec![answer("slow", SLOWER)]).await;
    serve(
        &server,
        &arrivals,
        "ping",
        vec![answer("ping", Duration::ZERO)],
    )
    .await;
    let retry = json!({"retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 300}});
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "flaky",
                "action.http_request",
                call(&server, "flaky", retry),
            ),
            node(
                "slow",
                "action.http_request",
                call(&server, "slow", json!({})),
            ),
            node("pause", "action.delay", json!({"duration_ms": 300})),
            node(
                "ping",
                "action.http_request",
                call(&server, "ping", json!({})),
            ),
            node("join", "flow.merge", json!({})),
            node("done", "action.set", json!({"values": {"ok": true}})),
        ],
        vec![
            edge("hook", "flaky"),
            edge("hook", "slow"),
            edge("hook", "pause"),
            edge("pause", "ping"),
            edge("flaky", "join"),
            edge("slow", "join"),
            edge("ping", "join"),
            edge("join", "done"),
        ],
    ));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let flaky = step(&execution, "flaky");
    assert_eq!(flaky["status"], "completed");
    assert_eq!(flaky["attempts"], 2);
    let slow = step(&execution, "slow");
    assert_eq!(slow["status"], "completed");
    assert_eq!(slow["attempts"], 1);
    assert_eq!(
        arrivals.count("/slow"),
        1,
        "the branch that completed is not run again when the execution resumes"
    );
    assert_eq!(arrivals.count("/flaky"), 2);
    let join = step(&execution, "join")["output"].clone();
    assert_eq!(join["flaky"]["body"], json!({"side": "flaky"}), "{join}");
    assert_eq!(join["slow"]["body"], json!({"side": "slow"}), "{join}");
    assert_eq!(step(&execution, "done")["output"], json!({"ok": true}));
    assert_eq!(
        step(&execution, "pause")["output"],
        json!({"waited_ms": 300})
    );
    assert_eq!(arrivals.count("/ping"), 1);
    assert_eq!(step_ids(&execution).len(), 6, "{execution}");
    // The retry and the step after the delay ran while the slow call was
    // still in flight, not once it answered and the execution resumed.
    let slow_answered = arrivals.of("/slow")[0].0 + SLOWER;
    let retried = arrivals.of("/flaky")[1].0;
    let pinged = arrivals.of("/ping")[0].0;
    assert!(
        retried < slow_answered && pinged < slow_answered,
        "the retry came {:?} and the ping {:?} after the slow call was answered",
        retried.saturating_duration_since(slow_answered),
        pinged.saturating_duration_since(slow_answered),
    );
}

#[tokio::test]
async fn two_branches_waiting_resume_each_when_its_wait_is_due() {
    two_waits_on(spawn_app().await).await;
}

#[tokio::test]
async fn two_branches_waiting_resume_each_when_its_wait_is_due_on_postgres_and_rabbitmq() {
    two_waits_on(spawn_distributed_app().await).await;
}

/// hook -> flaky (503, then 200 after 200 ms), pause (delay 1.5 s) -> join.
async fn two_waits_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    serve(
        &server,
        &arrivals,
        "flaky",
        vec![ResponseTemplate::new(503), answer("flaky", Duration::ZERO)],
    )
    .await;
    let retry = json!({"retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 200}});
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "flaky",
                "action.http_request",
                call(&server, "flaky", retry),
            ),
            node("pause", "action.delay", json!({"duration_ms": 1500})),
            node("join", "flow.merge", json!({})),
        ],
        vec![
            edge("hook", "flaky"),
            edge("hook", "pause"),
            edge("flaky", "join"),
            edge("pause", "join"),
        ],
    ));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step(&execution, "flaky")["attempts"], 2);
    let pause = step(&execution, "pause");
    assert_eq!(pause["status"], "completed");
    assert_eq!(pause["output"], json!({"waited_ms": 1500}));
    let join = step(&execution, "join")["output"].clone();
    assert_eq!(join["flaky"]["body"], json!({"side": "flaky"}), "{join}");
    assert_eq!(join["pause"], json!({"waited_ms": 1500}), "{join}");
    // The execution woke for the earlier wait (the retry), not only once
    // both were over: the second attempt came before the delay ended.
    let pause_started: DateTime<Utc> = pause["started_at"].as_str().unwrap().parse().unwrap();
    let pause_ends = pause_started + chrono::Duration::milliseconds(1500);
    let attempts = arrivals.of("/flaky");
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[1].1 < pause_ends,
        "the retry came at {} only, after the delay ended at {pause_ends}",
        attempts[1].1
    );
}

#[tokio::test]
async fn cancel_stops_every_branch_in_flight() {
    cancel_branches_on(false).await;
}

#[tokio::test]
async fn cancel_stops_every_branch_in_flight_on_postgres_and_rabbitmq() {
    cancel_branches_on(true).await;
}

/// hook -> one, two (HTTP, 20 s each) -> after_one, after_two (HTTP), on
/// an executor with one worker: another run gets it only once the
/// cancelled one let go of both requests.
async fn cancel_branches_on(distributed: bool) {
    let app = spawn_app_with(Options {
        concurrency: 1,
        distributed,
        ..Options::default()
    })
    .await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    let arrivals = Arrivals::default();
    let hang = Duration::from_secs(20);
    serve(&server, &arrivals, "one", vec![answer("one", hang)]).await;
    serve(&server, &arrivals, "two", vec![answer("two", hang)]).await;
    serve(
        &server,
        &arrivals,
        "after",
        vec![answer("after", Duration::ZERO)],
    )
    .await;
    let slow = json!({"timeout_ms": 30000});
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "one",
                "action.http_request",
                call(&server, "one", slow.clone()),
            ),
            node("two", "action.http_request", call(&server, "two", slow)),
            node(
                "after_one",
                "action.http_request",
                call(&server, "after", json!({})),
            ),
            node(
                "after_two",
                "action.http_request",
                call(&server, "after", json!({})),
            ),
        ],
        vec![
            edge("hook", "one"),
            edge("hook", "two"),
            edge("one", "after_one"),
            edge("two", "after_two"),
        ],
    ));
    let job = workflow.job(&user, json!({}));
    app.publish_job(&job).await;
    // Both requests are in flight.
    let deadline = Instant::now() + DEADLINE;
    while arrivals.count("/one") + arrivals.count("/two") < 2 {
        assert!(
            Instant::now() < deadline,
            "the two branches never both started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let cancelled = app
        .client
        .post(format!(
            "{}/api/v1/executions/{}/cancel",
            app.address, job.execution_id
        ))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 202);
    let done = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(done["status"], "cancelled", "{done}");

    // The one worker is free again long before the requests would answer.
    let quick = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("mark", "action.set", json!({"values": {"done": true}})),
        ],
        vec![edge("hook", "mark")],
    ));
    let other = app.run(&quick.job(&user, json!({})), &user).await;
    assert_eq!(other["status"], "completed", "{other}");
    assert_eq!(
        arrivals.count("/after"),
        0,
        "a successor ran after the cancel"
    );
    let after = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(step_ids(&after), Vec::<String>::new(), "{after}");
}
