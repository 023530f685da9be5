//! Run with: cargo test -p echoflow-executor --test api
//!
//! Jobs the executor cannot use end in `executor.dead` with their reason.

use serde_json::json;

use crate::helpers::*;

const REASON: &str = "x-echoflow-reason";

fn one_step() -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node("set", "action.set", json!({"values": {"a": 1}})),
        ],
        vec![edge("hook", "set")],
    ))
}

#[tokio::test]
async fn an_undecodable_job_is_dead_lettered_with_its_reason() {
    let app = spawn_app().await;
    let mut dead = app.dead_letters();
    let garbage = vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x13, 0x37, 0x00, 0xde, 0xad];

    app.publish_raw("garbage-1", garbage.clone()).await;

    let letter = dead.next().await;
    assert_eq!(letter.message_id, "garbage-1");
    assert_eq!(letter.body, garbage, "the original body is kept");
    let reason = letter.headers.get(REASON).expect("a reason header");
    assert!(reason.contains("ExecutionJob"), "{reason}");
    assert_eq!(
        letter.headers.get("x-original-queue").map(String::as_str),
        Some("executor.jobs")
    );
}

#[tokio::test]
async fn a_job_with_a_non_uuid_execution_id_is_dead_lettered_and_not_recorded() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut dead = app.dead_letters();
    let mut job = one_step().job(&user, json!({}));
    job.execution_id = "not-a-uuid".into();

    app.publish_job(&job).await;

    let letter = dead.next().await;
    assert_eq!(letter.message_id, "not-a-uuid");
    let reason = letter.headers.get(REASON).expect("a reason header");
    assert!(reason.contains("execution_id"), "{reason}");
    assert!(reason.contains("not-a-uuid"), "{reason}");
    let list: serde_json::Value = app.list_executions("", &user).await.json().await.unwrap();
    assert_eq!(list["total"], 0, "{list}");
}

#[tokio::test]
async fn a_job_with_an_unreadable_plan_fails_its_execution_and_is_dead_lettered() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut dead = app.dead_letters();
    let mut job = one_step().job(&user, json!({}));
    job.plan_json = "{not a plan".into();

    app.publish_job(&job).await;

    let letter = dead.next().await;
    assert_eq!(letter.message_id, job.execution_id);
    let reason = letter.headers.get(REASON).expect("a reason header");
    assert!(reason.contains("plan is unreadable"), "{reason}");
    let execution = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(execution["status"], "failed");
    assert!(
        execution["error"]
            .as_str()
            .is_some_and(|e| e.contains("plan is unreadable")),
        "{execution}"
    );
    assert_eq!(execution["steps"], json!([]));
}

#[tokio::test]
async fn a_good_job_is_not_dead_lettered() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut dead = app.dead_letters();
    let job = one_step().job(&user, json!({}));
    let execution = app.run(&job, &user).await;
    assert_eq!(execution["status"], "completed", "{execution}");

    // A marker dead-lettered after the good job is the first thing that arrives.
    app.publish_raw("marker", vec![0xff]).await;
    assert_eq!(dead.next().await.message_id, "marker");
}
