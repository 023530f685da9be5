//! Retention: executions that finished longer ago than the configured age
//! are deleted with their steps, in batches, so a busy executor's tables do
//! not grow for ever. Dead letters are kept (they are for replay).

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::store::{executions, status, steps};

const BATCH: u64 = 500;
const EVERY: Duration = Duration::from_secs(3600);

/// Prunes every hour until `shutdown`; `days == 0` keeps everything.
pub async fn run(db: DatabaseConnection, days: u32, shutdown: CancellationToken) {
    if days == 0 {
        return;
    }
    loop {
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
        match prune(&db, cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, days, "old executions pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning old executions failed; trying later"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Deletes executions that ended before `cutoff`, batch by batch; returns how many.
pub async fn prune(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut total = 0;
    loop {
        let txn = db.begin().await?;
        let ids: Vec<uuid::Uuid> = executions::Entity::find()
            .select_only()
            .column(executions::Column::Id)
            .filter(executions::Column::Status.is_in([
                status::COMPLETED,
                status::FAILED,
                status::CANCELLED,
            ]))
            .filter(executions::Column::CompletedAt.lt(cutoff))
            .limit(BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        if ids.is_empty() {
            txn.rollback().await?;
            return Ok(total);
        }
        steps::Entity::delete_many()
            .filter(steps::Column::ExecutionId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        let gone = executions::Entity::delete_many()
            .filter(executions::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        total += gone.rows_affected;
        if (ids.len() as u64) < BATCH {
            return Ok(total);
        }
    }
}
