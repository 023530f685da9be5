//! The roller: rolls each closed hour of a slice's raw rows up into
//! `analytics_hourly` once, an hour per transaction, behind the watermark.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio_util::sync::CancellationToken;

use crate::range::floor_hour;
use crate::rollup::{Tally, advance, read_watermark, watermark};

/// How long after an hour ends it is rolled up: a row is written with the
/// time its transaction began, so one that commits late still lands in an
/// hour that is not rolled yet.
pub const GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// A slice's raw rows, as the roller reads them.
pub trait RawRows: Send + Sync + 'static {
    /// The watermark's name in the slice.
    const NAME: &'static str;

    /// The earliest raw row at or after `from`.
    fn next_row_at(
        &self,
        db: &DatabaseConnection,
        from: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, DbErr>> + Send;

    /// Folds every raw row in `[from, to)` into `tally`.
    fn fold(
        &self,
        txn: &DatabaseTransaction,
        tally: &mut Tally,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DbErr>> + Send;
}

/// Rolls up every hour that closed before `now - GRACE`; returns how many hours held rows.
pub async fn roll<R: RawRows>(
    db: &DatabaseConnection,
    rows: &R,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let target = floor_hour(now - GRACE);
    // The first roll starts at the earliest row (1970 is before any, and a valid timestamp everywhere).
    let initial = rows
        .next_row_at(db, DateTime::<Utc>::UNIX_EPOCH)
        .await?
        .unwrap_or(target);
    let mut mark = watermark(db, R::NAME, initial.min(target)).await?;
    let mut rolled = 0;
    while mark < target {
        // Skips hours without rows in one step.
        let next_row = rows.next_row_at(db, mark).await?;
        let start = match next_row {
            Some(at) if floor_hour(at) < target => floor_hour(at),
            _ => target,
        };
        if start > mark {
            let txn = begin(db).await?;
            if !advance(&txn, R::NAME, mark, start).await? {
                txn.rollback().await?;
                return Ok(rolled);
            }
            txn.commit().await?;
            mark = start;
            continue;
        }
        let end = mark + chrono::TimeDelta::hours(1);
        let txn = begin(db).await?;
        if !advance(&txn, R::NAME, mark, end).await? {
            // Another replica rolls this slice.
            txn.rollback().await?;
            return Ok(rolled);
        }
        let mut tally = Tally::default();
        rows.fold(&txn, &mut tally, mark, end).await?;
        tally.store(&txn).await?;
        txn.commit().await?;
        rolled += usize::from(!tally.is_empty());
        mark = end;
    }
    Ok(rolled)
}

/// A writer's transaction (on SQLite it takes the write lock at once).
async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Where the rolled-up hours end, if the roller has started.
pub async fn rolled_until<R: RawRows>(
    db: &DatabaseConnection,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    read_watermark(db, R::NAME).await
}

/// Rolls at once and then every `every` until `stop`.
pub fn spawn<R: RawRows>(
    db: DatabaseConnection,
    rows: R,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match roll(&db, &rows, Utc::now()).await {
                Ok(hours) if hours > 0 => {
                    tracing::info!(slice = R::NAME, hours, "analytics rolled up")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(slice = R::NAME, error = %e, "analytics roll-up failed; retrying later")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}
