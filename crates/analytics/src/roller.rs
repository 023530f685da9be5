//! The roller: rolls each closed hour of a slice's raw rows up into
//! `analytics_hourly` once, an hour per transaction, behind the watermark;
//! then each closed UTC day of hourly rows into `analytics_daily`, a day per
//! transaction, behind the daily watermark (`<slice>:days`). A slice that had
//! hourly rollups before the daily tier existed gets its days rolled from them.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio_util::sync::CancellationToken;

use crate::range::{Bucket, floor_day, floor_hour};
use crate::rollup::{Rolled, Tally, advance, read_watermark, watermark};
use crate::tiers::{HOURS, roll_day};

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

/// Rolls up every hour that closed before `now - GRACE`, then every whole day
/// before that from its hours; returns how many hours held rows.
pub async fn roll<R: RawRows>(
    db: &DatabaseConnection,
    rows: &R,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let hours = HourSteps(rows);
    let rolled = roll_tier(db, R::NAME, &hours, floor_hour(now - GRACE)).await?;
    if let Some(hours_until) = read_watermark(db, R::NAME).await? {
        let name = days_name(R::NAME);
        roll_tier(db, &name, &DaySteps, floor_day(hours_until)).await?;
    }
    Ok(rolled)
}

/// The daily tier's watermark of the slice whose hourly watermark is `name`.
fn days_name(name: &str) -> String {
    format!("{name}:days")
}

/// A tier as the roller walks it: rows come in steps (hours or days), each
/// rolled once, inside the transaction that moves the tier's watermark.
trait Steps: Sync {
    const BUCKET: Bucket;

    /// The start of the earliest row to roll at or after `from`.
    fn next_row_at(
        &self,
        db: &DatabaseConnection,
        from: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, DbErr>> + Send;

    /// Rolls the step `[from, to)`; true when it held rows.
    fn roll(
        &self,
        txn: &DatabaseTransaction,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, DbErr>> + Send;
}

/// Hours, from a slice's raw rows.
struct HourSteps<'a, R>(&'a R);

impl<R: RawRows> Steps for HourSteps<'_, R> {
    const BUCKET: Bucket = Bucket::Hour;

    async fn next_row_at(
        &self,
        db: &DatabaseConnection,
        from: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        self.0.next_row_at(db, from).await
    }

    async fn roll(
        &self,
        txn: &DatabaseTransaction,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        let mut tally = Tally::default();
        self.0.fold(txn, &mut tally, from, to).await?;
        tally.store(txn).await?;
        Ok(!tally.is_empty())
    }
}

/// Days, from the hourly rollups.
struct DaySteps;

impl Steps for DaySteps {
    const BUCKET: Bucket = Bucket::Day;

    async fn next_row_at(
        &self,
        db: &DatabaseConnection,
        from: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        HOURS.first_start(db, from).await
    }

    async fn roll(
        &self,
        txn: &DatabaseTransaction,
        from: DateTime<Utc>,
        _to: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        roll_day(txn, from).await?;
        Ok(true)
    }
}

/// Rolls every step of a tier before `target` (a step boundary) once, behind
/// the watermark `name`; returns how many steps held rows.
async fn roll_tier<S: Steps>(
    db: &DatabaseConnection,
    name: &str,
    steps: &S,
    target: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let floor = |at| S::BUCKET.floor(at);
    // The first roll starts at the earliest row (1970 is before any, and a valid timestamp everywhere).
    let initial = steps
        .next_row_at(db, DateTime::<Utc>::UNIX_EPOCH)
        .await?
        .map_or(target, floor);
    let mut mark = watermark(db, name, initial.min(target)).await?;
    let mut rolled = 0;
    while mark < target {
        // Skips steps without rows in one move.
        let start = match steps.next_row_at(db, mark).await? {
            Some(at) if floor(at) < target => floor(at),
            _ => target,
        };
        let end = if start > mark {
            start
        } else {
            mark + S::BUCKET.length()
        };
        let txn = begin(db).await?;
        if !advance(&txn, name, mark, end).await? {
            // Another replica rolls this slice.
            txn.rollback().await?;
            return Ok(rolled);
        }
        if start == mark {
            rolled += usize::from(steps.roll(&txn, mark, end).await?);
        }
        txn.commit().await?;
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

/// Where the slice's rollups end (nothing rolled before the roller has started).
pub async fn rolled<R: RawRows>(db: &DatabaseConnection) -> Result<Rolled, DbErr> {
    let Some(hours_until) = read_watermark(db, R::NAME).await? else {
        return Ok(Rolled::NOTHING);
    };
    let days_until = read_watermark(db, &days_name(R::NAME))
        .await?
        .unwrap_or(Rolled::NOTHING.days_until);
    Ok(Rolled {
        hours_until,
        days_until,
    })
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
