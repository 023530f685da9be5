//! Admission: when an execution may run. Under a concurrency limit it runs
//! only while fewer than the limit of its workflow run and no older one
//! waits; and every first write claims it as `running`, unless a cancel
//! ended it first.

use chrono::Utc;
use echoflow_contracts::UpdateKind;
use echoflow_service_kit::db::begin_writer;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Statement, TransactionTrait, sea_query::Expr,
};
use std::sync::Arc;

use super::Engine;
use crate::store::{executions, status, wakeups};
use crate::updates;

impl Engine {
    /// Under a concurrency limit: runs the execution if fewer than `limit`
    /// of its workflow run and no older one waits; otherwise it waits,
    /// holding no worker, until a slot frees. Returns the running execution,
    /// or None when it waits (or ended meanwhile).
    pub(super) async fn admit(
        &self,
        execution: &executions::Model,
        limit: u32,
    ) -> Result<Option<executions::Model>, DbErr> {
        // Counts, then claims: no other admission may come in between. SQLite:
        // the writer transaction holds the database's write lock.
        let txn = begin_writer(&self.db).await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            // Admissions of one workflow take turns; others are not held up.
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [execution.workflow_id.to_string().into()],
            ))
            .await?;
        }
        let running = executions::Entity::find()
            .filter(executions::Column::WorkflowId.eq(execution.workflow_id))
            .filter(executions::Column::Status.eq(status::RUNNING))
            .count(&txn)
            .await?;
        let older_waiting = executions::Entity::find()
            .filter(executions::Column::WorkflowId.eq(execution.workflow_id))
            .filter(executions::Column::Status.eq(status::QUEUED))
            .filter(
                Condition::any()
                    .add(executions::Column::QueuedAt.lt(execution.queued_at))
                    .add(
                        Condition::all()
                            .add(executions::Column::QueuedAt.eq(execution.queued_at))
                            .add(executions::Column::Id.lt(execution.id)),
                    ),
            )
            .count(&txn)
            .await?;
        if running < u64::from(limit) && older_waiting == 0 {
            let claim = claim_running(&txn, execution).await?;
            wakeups::cancel(&txn, execution.id).await?;
            txn.commit().await?;
            let Some(execution) = claim.applied_to(execution) else {
                return Ok(None);
            };
            self.announce_started(&execution);
            return Ok(Some(execution));
        }
        // A slot freeing wakes the oldest waiter at once; this is the safety net.
        let due = Utc::now() + chrono::Duration::seconds(5);
        wakeups::schedule(
            &txn,
            execution.id,
            execution.workflow_id,
            due,
            wakeups::CONCURRENCY,
        )
        .await?;
        // A free slot this one may not take belongs to an older waiter: wake it.
        let slot_free = running < u64::from(limit);
        if slot_free {
            wakeups::wake_next_waiting(&txn, execution.workflow_id, Some(execution.id)).await?;
        }
        txn.commit().await?;
        if slot_free {
            self.waker.due_at(Utc::now());
        }
        tracing::debug!(
            running,
            older_waiting,
            limit,
            "waiting for a concurrency slot"
        );
        Ok(None)
    }

    /// Marks an execution that ran no step running, in a transaction of its own.
    pub(super) async fn start(
        &self,
        execution: &Arc<executions::Model>,
    ) -> Result<Arc<executions::Model>, DbErr> {
        let txn = self.db.begin().await?;
        let claim = claim_running(&txn, execution).await?;
        txn.commit().await?;
        if let Claim::Started(_) = claim
            && let Some(started) = claim.applied_to(execution)
        {
            self.announce_started(&started);
            return Ok(Arc::new(started));
        }
        Ok(execution.clone())
    }

    pub(super) fn announce_started(&self, execution: &executions::Model) {
        updates::announce(
            &self.bus,
            execution,
            UpdateKind::Started,
            status::RUNNING,
            None,
            0,
        );
    }
}

/// What claiming an execution as running found.
#[derive(Debug, Clone, Copy)]
pub(super) enum Claim {
    /// It was queued: this claim started it, then.
    Started(chrono::DateTime<Utc>),
    /// It was running already.
    Running,
    /// It has ended (cancelled): nothing may be written for it.
    Ended,
}

impl Claim {
    /// The execution as the claim leaves it; None when it has ended.
    pub(super) fn applied_to(self, execution: &executions::Model) -> Option<executions::Model> {
        let mut execution = execution.clone();
        match self {
            Claim::Started(at) => {
                execution.status = status::RUNNING.to_string();
                execution.started_at = Some(at);
            }
            Claim::Running => execution.status = status::RUNNING.to_string(),
            Claim::Ended => return None,
        }
        Some(execution)
    }
}

/// queued or running -> running, on `txn`, locking the row until commit so
/// a cancel cannot slip in between.
pub(super) async fn claim_running<C: sea_orm::ConnectionTrait>(
    txn: &C,
    execution: &executions::Model,
) -> Result<Claim, DbErr> {
    let now = Utc::now();
    if execution.status == status::QUEUED {
        let changed = executions::Entity::update_many()
            .col_expr(executions::Column::Status, Expr::value(status::RUNNING))
            .col_expr(executions::Column::StartedAt, Expr::value(now))
            .filter(executions::Column::Id.eq(execution.id))
            .filter(executions::Column::Status.eq(status::QUEUED))
            .exec(txn)
            .await?;
        if changed.rows_affected == 1 {
            return Ok(Claim::Started(now));
        }
    }
    let still = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(status::RUNNING))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.eq(status::RUNNING))
        .exec(txn)
        .await?;
    Ok(if still.rows_affected == 1 {
        Claim::Running
    } else {
        Claim::Ended
    })
}
