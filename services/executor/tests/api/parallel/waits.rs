//! Run with: cargo test -p echoflow-executor --test api parallel::waits
//!
//! A branch that waits (a retry's backoff, a delay) lets the others run on
//! and runs again when due while they still run; a parked execution resumes
//! for each wait when it is due.

use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;
use wiremock::{MockServer, ResponseTemplate};

use super::{Arrivals, answer, call, serve};
use crate::helpers::*;

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
