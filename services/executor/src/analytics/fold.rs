//! Folding the executor's raw rows into hourly cells: what each ended
//! execution and failed step counts as, for the roller and for an overview's
//! not-yet-rolled hours alike. An execution counts in the hour it ended.

use chrono::{DateTime, Utc};
use echoflow_analytics::durations;
use echoflow_analytics::rollup::Tally;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::store::{executions, status, steps};

pub const FINISHED: &str = "finished";
pub const DURATIONS: &str = "durations";
pub const WORKFLOW_FAILURES: &str = "workflow_failures";
pub const STEP_FAILURES: &str = "step_failures";
/// The metrics the trend shows per bucket.
pub const TREND: [&str; 1] = [FINISHED];

/// Rows read per query, so a busy hour is folded in bounded memory.
const PAGE: u64 = 5_000;

/// Whose executions a fold reads: everyone's (the roller) or one owner's (an overview).
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    All,
    Owner {
        owner_id: Uuid,
        chatbot_id: Option<Uuid>,
    },
}

type ExecutionRow = (
    Uuid,
    Uuid,
    Uuid,
    Uuid,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

/// The step key of a failing step: `"<workflow_id> <node_id>"`.
pub fn step_key(workflow_id: Uuid, node_id: &str) -> String {
    format!("{workflow_id} {node_id}")
}

/// Folds the executions that ended in `[from, to)` and their failed steps into `tally`.
pub async fn fold<C: ConnectionTrait>(
    db: &C,
    tally: &mut Tally,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), DbErr> {
    if from >= to {
        return Ok(());
    }
    let mut after: Option<Uuid> = None;
    loop {
        let mut select = executions::Entity::find()
            .select_only()
            .columns([
                executions::Column::Id,
                executions::Column::OwnerId,
                executions::Column::ChatbotId,
                executions::Column::WorkflowId,
                executions::Column::Status,
                executions::Column::QueuedAt,
                executions::Column::StartedAt,
                executions::Column::CompletedAt,
            ])
            .filter(executions::Column::CompletedAt.gte(from))
            .filter(executions::Column::CompletedAt.lt(to))
            .filter(executions::Column::Status.is_in([
                status::COMPLETED,
                status::FAILED,
                status::CANCELLED,
            ]))
            .order_by_asc(executions::Column::Id)
            .limit(PAGE);
        if let Scope::Owner {
            owner_id,
            chatbot_id,
        } = scope
        {
            select = select.filter(executions::Column::OwnerId.eq(owner_id));
            if let Some(id) = chatbot_id {
                select = select.filter(executions::Column::ChatbotId.eq(id));
            }
        }
        if let Some(last) = after {
            select = select.filter(executions::Column::Id.gt(last));
        }
        let rows: Vec<ExecutionRow> = select.into_tuple().all(db).await?;
        for (_, owner, bot, workflow, state, queued, started, ended) in &rows {
            tally.add(*owner, *bot, *ended, FINISHED, state, 0.0);
            if state == status::COMPLETED || state == status::FAILED {
                let ms = (*ended - started.unwrap_or(*queued)).num_milliseconds();
                let bin = durations::bin(ms);
                tally.add(*owner, *bot, *ended, DURATIONS, &bin.to_string(), ms as f64);
            }
            if state == status::FAILED {
                tally.add(
                    *owner,
                    *bot,
                    *ended,
                    WORKFLOW_FAILURES,
                    &workflow.to_string(),
                    0.0,
                );
            }
        }
        fold_failed_steps(db, tally, &rows).await?;
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => after = Some(last.0),
            _ => break,
        }
    }
    Ok(())
}

/// The failed steps of a page of ended executions, each counted when its execution ended.
async fn fold_failed_steps<C: ConnectionTrait>(
    db: &C,
    tally: &mut Tally,
    page: &[ExecutionRow],
) -> Result<(), DbErr> {
    if page.is_empty() {
        return Ok(());
    }
    let failed: Vec<(Uuid, String)> = steps::Entity::find()
        .select_only()
        .columns([steps::Column::ExecutionId, steps::Column::NodeId])
        .filter(steps::Column::Status.eq(status::FAILED))
        .filter(steps::Column::ExecutionId.is_in(page.iter().map(|row| row.0)))
        .into_tuple()
        .all(db)
        .await?;
    if failed.is_empty() {
        return Ok(());
    }
    let by_id: std::collections::HashMap<Uuid, &ExecutionRow> =
        page.iter().map(|row| (row.0, row)).collect();
    for (execution_id, node_id) in failed {
        if let Some((_, owner, bot, workflow, _, _, _, ended)) = by_id.get(&execution_id) {
            tally.add(
                *owner,
                *bot,
                *ended,
                STEP_FAILURES,
                &step_key(*workflow, &node_id),
                0.0,
            );
        }
    }
    Ok(())
}

/// When the earliest execution at or after `from` ended, if any did.
pub async fn next_end_at<C: ConnectionTrait>(
    db: &C,
    from: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let at: Option<Option<DateTime<Utc>>> = executions::Entity::find()
        .select_only()
        .column(executions::Column::CompletedAt)
        .filter(executions::Column::CompletedAt.gte(from))
        .order_by_asc(executions::Column::CompletedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(at.flatten())
}
