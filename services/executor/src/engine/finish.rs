//! How an execution ends: its outcome (completed, failed, cancelled), the
//! write that finishes it, and for a failure its dead letter.

use chrono::Utc;
use echoflow_contracts::UpdateKind;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr};
use serde_json::Value;

use super::Engine;
use crate::store::dead_letters::{self, FailedStep};
use crate::store::{executions, status, steps, wakeups};
use crate::{responses, updates};

/// How an execution ends, and what it failed at.
pub(crate) struct Ending<'a> {
    pub status: &'a str,
    pub error: Option<String>,
    pub failed: Option<FailedStep>,
    /// A failure is dead-lettered, unless the job itself is (an unreadable plan).
    pub dead_letter: bool,
}

pub(super) fn ending(
    status: &str,
    error: Option<String>,
    failed: Option<FailedStep>,
) -> Ending<'_> {
    Ending {
        status,
        error,
        failed,
        dead_letter: status == status::FAILED,
    }
}

pub(super) fn failed_step(step: &steps::Model) -> FailedStep {
    FailedStep {
        node_id: step.node_id.clone(),
        input: step.input.clone().unwrap_or(Value::Null),
        attempts: step.attempts,
    }
}

/// Ends the execution on `txn` unless it already ended. A failure is also
/// dead-lettered (a row, and a message on `echoflow.dlx`); under a
/// concurrency limit, the oldest waiting run of the workflow is woken.
/// Returns false when the execution had already ended (nothing is written).
pub(crate) async fn finish_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    execution: &executions::Model,
    end: &Ending<'_>,
    limited: bool,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let changed = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(end.status))
        .col_expr(executions::Column::CompletedAt, Expr::value(now))
        .col_expr(executions::Column::Error, Expr::value(end.error.clone()))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .exec(txn)
        .await?;
    if changed.rows_affected != 1 {
        return Ok(false);
    }
    let duration = execution
        .started_at
        .map(|s| (now - s).num_milliseconds())
        .unwrap_or(0);
    updates::enqueue(
        txn,
        execution,
        UpdateKind::Finished,
        end.status,
        None,
        end.error.as_deref(),
        duration,
    )
    .await?;
    responses::enqueue_final(txn, execution, end.status, end.error.as_deref()).await?;
    if end.dead_letter {
        let error = end.error.clone().unwrap_or_default();
        let id = dead_letters::record_failed(txn, execution, end.failed.as_ref(), &error).await?;
        dead_letters::publish(txn, id, execution, end.failed.as_ref(), &error).await?;
    }
    if end.status == status::FAILED {
        updates::enqueue_failed_event(txn, execution, end.failed.as_ref(), end.error.as_deref())
            .await?;
    }
    if limited {
        wakeups::wake_next_waiting(txn, execution.workflow_id, None).await?;
    }
    Ok(true)
}

impl Engine {
    /// Ends the execution unless it already ended.
    pub(super) async fn finish(
        &self,
        execution: &executions::Model,
        end: Ending<'_>,
        limited: bool,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        finish_in(&txn, execution, &end, limited).await?;
        txn.commit().await?;
        self.relay.notify();
        if limited {
            self.waker.due_at(Utc::now());
        }
        tracing::info!(status = end.status, error = end.error, "execution finished");
        Ok(())
    }
}
