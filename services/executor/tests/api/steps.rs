//! Run with: cargo test -p echoflow-executor --test api steps
//!
//! A step's row is written only while its execution runs: the check and the
//! write are one statement, so a step that finishes after a cancel leaves
//! nothing behind.

use chrono::Utc;
use echoflow_executor::store::steps;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::helpers::*;

#[tokio::test]
async fn a_step_is_written_while_its_execution_runs_and_not_after_a_cancel() {
    written_while_running_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_step_is_written_while_its_execution_runs_and_not_after_a_cancel_on_postgres_and_rabbitmq()
 {
    written_while_running_on(spawn_distributed_app().await).await;
}

fn row(execution_id: uuid::Uuid, node_id: &str, seq: i32) -> steps::Model {
    steps::Model {
        execution_id,
        node_id: node_id.to_string(),
        seq,
        node_type: "action.set".to_string(),
        status: "completed".to_string(),
        attempts: 1,
        input: Some(json!({"values": {"n": seq}})),
        output: Some(json!({"n": seq})),
        error: None,
        started_at: Utc::now(),
        completed_at: Some(Utc::now()),
        duration_ms: Some(1),
    }
}

async fn written_while_running_on(app: TestApp) {
    let user = TestUser::new();
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("wait", "action.delay", json!({"duration_ms": 60_000})),
        ],
        vec![edge("hook", "wait")],
    ));
    let job = workflow.job(&user, json!({}));
    app.publish_job(&job).await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let execution: Value = app
            .get_execution(&job.execution_id, &user)
            .await
            .json()
            .await
            .unwrap();
        if execution["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "never running: {execution}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let db = app.database().await;
    let id: uuid::Uuid = job.execution_id.parse().unwrap();

    assert!(
        steps::upsert_if_running(&db, row(id, "probe", 10))
            .await
            .unwrap()
    );
    // A later attempt of the same step replaces its row.
    assert!(
        steps::upsert_if_running(&db, row(id, "probe", 10))
            .await
            .unwrap()
    );
    let running: Value = app
        .get_execution(&job.execution_id, &user)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(step_ids(&running), ["wait", "probe"], "{running}");

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
    assert!(
        !steps::upsert_if_running(&db, row(id, "late", 11))
            .await
            .unwrap(),
        "a step written after the cancel"
    );
    let done = app.wait_final(&job.execution_id, &user).await;
    assert_eq!(done["status"], "cancelled");
    assert_eq!(step_ids(&done), ["wait", "probe"], "{done}");
}
