//! Run with: cargo test -p echoflow-executor --test api parallel::fan_out
//!
//! Branches after a fan-out run at once; the merge waits for all of them; a
//! failing branch, or a cancel, abandons the ones still in flight.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::{MockServer, ResponseTemplate};

use super::{Arrivals, SLOW, answer, call, serve};
use crate::helpers::*;

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
