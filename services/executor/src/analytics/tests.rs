//! The executor's slice over known rows written through the store: every
//! figure, another owner's zeros, a chatbot's share, and the same figures
//! from the raw rows and from the rollups.

use chrono::{DateTime, TimeDelta, Utc};
use echoflow_analytics::range::floor_day;
use echoflow_analytics::roller::{roll, rolled as rolled_up};
use echoflow_analytics::{Bucket, FailingStep, FailingWorkflow, Range};
use echoflow_migrations::Slice;
use echoflow_test_support::TestDatabase;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};
use serde_json::json;
use uuid::Uuid;

use super::{ExecutionRows, figures};
use crate::store::{dead_letters, executions, status, steps};

/// A migrated executions slice in `database` (removed with it).
async fn connect(database: TestDatabase) -> (TestDatabase, DatabaseConnection) {
    let url = secrecy::SecretString::from(database.url());
    let db = echoflow_service_kit::db::connect(&url, Slice::Executions.name(), 4)
        .await
        .unwrap();
    Slice::Executions.migrate(&db).await.unwrap();
    (database, db)
}

#[allow(clippy::too_many_arguments)]
async fn execution(
    db: &DatabaseConnection,
    owner: Uuid,
    bot: Uuid,
    workflow: Uuid,
    state: &str,
    started: DateTime<Utc>,
    ms: i64,
    failed_step: Option<&str>,
) -> Uuid {
    let id = Uuid::now_v7();
    let ended = status::is_terminal(state).then(|| started + TimeDelta::milliseconds(ms));
    executions::ActiveModel {
        id: Set(id),
        workflow_id: Set(workflow),
        workflow_version: Set(1),
        owner_id: Set(owner),
        chatbot_id: Set(bot),
        status: Set(state.to_owned()),
        trigger: Set(json!({})),
        plan: Set(None),
        error: Set(None),
        retry_of: Set(None),
        step_inputs: Set(None),
        queued_at: Set(started - TimeDelta::milliseconds(5)),
        started_at: Set((state != status::QUEUED).then_some(started)),
        completed_at: Set(ended),
    }
    .insert(db)
    .await
    .unwrap();
    for (node, step_status) in [("start", status::COMPLETED)]
        .into_iter()
        .chain(failed_step.map(|n| (n, status::FAILED)))
    {
        steps::ActiveModel {
            execution_id: Set(id),
            node_id: Set(node.to_owned()),
            seq: Set(1),
            node_type: Set("action.set".into()),
            status: Set(step_status.into()),
            attempts: Set(1),
            input: Set(None),
            output: Set(None),
            error: Set(None),
            started_at: Set(started),
            completed_at: Set(ended),
            duration_ms: Set(Some(1)),
        }
        .insert(db)
        .await
        .unwrap();
    }
    id
}

async fn dead_letter(
    db: &DatabaseConnection,
    owner: Uuid,
    execution: Uuid,
    at: DateTime<Utc>,
    replayed: bool,
) {
    dead_letters::ActiveModel {
        id: Set(Uuid::now_v7()),
        execution_id: Set(Some(execution)),
        owner_id: Set(Some(owner)),
        workflow_id: Set(None),
        workflow_version: Set(None),
        failed_step: Set(Some("call".into())),
        input: Set(None),
        error: Set("boom".into()),
        attempts: Set(1),
        reason: Set(dead_letters::EXECUTION_FAILED.into()),
        payload: Set(None),
        created_at: Set(at),
        replayed_at: Set(replayed.then_some(at)),
        replay_execution_id: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn every_figure_of_known_executions_on_sqlite() {
    every_figure(TestDatabase::sqlite("echoflow-exec-analytics")).await;
}

#[tokio::test]
async fn every_figure_of_known_executions_on_postgresql() {
    every_figure(TestDatabase::postgres("ef_exec_analytics").await).await;
}

/// Every figure from the raw rows, then the same from the hourly and the daily rollups.
async fn every_figure(database: TestDatabase) {
    let (_database, db) = &connect(database).await;
    let now = Utc::now();
    let base = echoflow_analytics::range::floor_hour(now - TimeDelta::days(3));
    let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
    let (bot1, bot2) = (Uuid::new_v4(), Uuid::new_v4());
    let (w1, w2, w3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (i, ms) in [100, 200, 300, 400].into_iter().enumerate() {
        let at = base + TimeDelta::minutes(10 + i as i64);
        execution(db, owner, bot1, w1, status::COMPLETED, at, ms, None).await;
    }
    let late = base + TimeDelta::minutes(65);
    let f1 = execution(
        db,
        owner,
        bot1,
        w2,
        status::FAILED,
        late,
        1000,
        Some("call"),
    )
    .await;
    let f2 = execution(
        db,
        owner,
        bot1,
        w2,
        status::FAILED,
        late,
        2000,
        Some("call"),
    )
    .await;
    execution(
        db,
        owner,
        bot2,
        w3,
        status::FAILED,
        late,
        500,
        Some("fetch"),
    )
    .await;
    execution(db, owner, bot2, w3, status::CANCELLED, late, 50, None).await;
    execution(
        db,
        owner,
        bot1,
        w1,
        status::QUEUED,
        now - TimeDelta::hours(1),
        0,
        None,
    )
    .await;
    execution(
        db,
        owner,
        bot1,
        w1,
        status::RUNNING,
        now - TimeDelta::hours(1),
        0,
        None,
    )
    .await;
    dead_letter(db, owner, f1, late + TimeDelta::seconds(1), false).await;
    dead_letter(db, owner, f2, late + TimeDelta::seconds(2), true).await;
    execution(
        db,
        other,
        Uuid::new_v4(),
        Uuid::new_v4(),
        status::COMPLETED,
        late,
        10,
        None,
    )
    .await;

    let range = Range::new(now - TimeDelta::days(5), now, Bucket::Day).unwrap();
    let raw = figures(db, owner, None, &range).await.unwrap();
    let s = &raw.by_status;
    assert_eq!(
        (s.queued, s.running, s.completed, s.failed, s.cancelled),
        (1, 1, 4, 3, 1)
    );
    // Durations of the completed and failed: 100..400, 500, 1000, 2000 (nearest rank).
    assert_eq!(
        (
            raw.duration_ms.count,
            raw.duration_ms.p50,
            raw.duration_ms.p95
        ),
        (7, Some(400), Some(2000))
    );
    assert_eq!(
        raw.top_failing_workflows,
        vec![
            FailingWorkflow {
                workflow_id: w2,
                failures: 2
            },
            FailingWorkflow {
                workflow_id: w3,
                failures: 1
            }
        ]
    );
    assert_eq!(
        raw.top_failing_steps,
        vec![
            FailingStep {
                workflow_id: w2,
                node_id: "call".into(),
                failures: 2
            },
            FailingStep {
                workflow_id: w3,
                node_id: "fetch".into(),
                failures: 1
            }
        ]
    );
    assert_eq!(
        (raw.dead_letters.total, raw.dead_letters.not_replayed),
        (2, 1)
    );
    assert_eq!(raw.buckets.len(), range.bucket_starts().len());
    let day = raw
        .buckets
        .iter()
        .find(|b| b.start == Bucket::Day.floor(base))
        .unwrap();
    assert_eq!((day.completed, day.failed, day.cancelled), (4, 3, 1));
    let elsewhere: u64 = raw
        .buckets
        .iter()
        .filter(|b| b.start != day.start)
        .map(|b| b.completed + b.failed + b.cancelled)
        .sum();
    assert_eq!(elsewhere, 0);

    // One chatbot's share: its executions, and dead letters of its executions only.
    let of_bot2 = figures(db, owner, Some(bot2), &range).await.unwrap();
    let s = &of_bot2.by_status;
    assert_eq!(
        (s.queued, s.running, s.completed, s.failed, s.cancelled),
        (0, 0, 0, 1, 1)
    );
    assert_eq!(
        (of_bot2.duration_ms.count, of_bot2.duration_ms.p50),
        (1, Some(500))
    );
    assert_eq!(of_bot2.dead_letters.total, 0);

    // Another owner sees only their own; a stranger sees zeros.
    let theirs = figures(db, other, None, &range).await.unwrap();
    assert_eq!(
        (
            theirs.by_status.completed,
            theirs.by_status.failed,
            theirs.dead_letters.total
        ),
        (1, 0, 0)
    );
    let nobody = figures(db, Uuid::new_v4(), None, &range).await.unwrap();
    assert_eq!(nobody.duration_ms.count, 0);
    assert_eq!(nobody.duration_ms.p50, None);
    assert!(nobody.top_failing_workflows.is_empty());

    // An hourly range over whole days, to compare with its rolled-up figures.
    let by_hour = Range::new(now - TimeDelta::days(4), now, Bucket::Hour).unwrap();
    let raw_by_hour = figures(db, owner, None, &by_hour).await.unwrap();

    // Rolled up: the closed hours come from analytics_hourly, with the same figures.
    let rolled = roll(db, &ExecutionRows, now).await.unwrap();
    assert_eq!(rolled, 2, "two hours held ended executions");
    assert_eq!(
        roll(db, &ExecutionRows, now).await.unwrap(),
        0,
        "an hour is rolled once"
    );
    assert_eq!(figures(db, owner, None, &range).await.unwrap(), raw);
    assert_eq!(
        figures(db, owner, Some(bot2), &range).await.unwrap(),
        of_bot2
    );
    let hourly = Range::new(base, base + TimeDelta::hours(2), Bucket::Hour).unwrap();
    let hours = figures(db, owner, None, &hourly).await.unwrap();
    let per_hour: Vec<(u64, u64, u64)> = hours
        .buckets
        .iter()
        .map(|b| (b.completed, b.failed, b.cancelled))
        .collect();
    assert_eq!(per_hour, vec![(4, 0, 0), (0, 3, 1)]);

    assert_eq!(
        figures(db, owner, None, &by_hour).await.unwrap(),
        raw_by_hour
    );

    // Every closed day is rolled up too, and whole days are read from the daily
    // tier: with the hourly rows of those days gone, a daily range reads the same.
    let tiers = rolled_up::<ExecutionRows>(db).await.unwrap();
    assert_eq!(tiers.days_until, floor_day(tiers.hours_until));
    let hourly_rows = Query::delete()
        .from_table(Alias::new("analytics_hourly"))
        .and_where(Expr::col(Alias::new("hour")).lt(tiers.days_until))
        .to_owned();
    assert!(db.execute(&hourly_rows).await.unwrap().rows_affected() > 0);
    assert_eq!(figures(db, owner, None, &range).await.unwrap(), raw);
}
