//! Rollups: counts (and sums) per owner, chatbot, hour (and day), metric and
//! dimension, kept in the slice that owns the raw rows. A service rolls up
//! each closed hour once, and each closed day from its hours; an overview
//! reads the daily rollups for whole days, the hourly ones for the hours
//! around them before the watermark, and folds the raw rows after it, so its
//! cost follows the number of days, not of rows.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::range::{Bucket, Range, ceil_day, floor_day, floor_hour};
use crate::tiers::{DAYS, HOURS, Slot};

/// The rollup rows (`analytics_hourly`), the same table in every slice that has one.
pub mod hourly {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_hourly")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub owner_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub hour: DateTimeUtc,
        #[sea_orm(primary_key, auto_increment = false)]
        pub chatbot_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub metric: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub dimension: String,
        pub count: i64,
        pub total: f64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// How far each rollup has got (`analytics_watermark`): every raw row before
/// `rolled_until` is in the rollups, none after it.
pub mod watermark {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "analytics_watermark")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub rolled_until: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A count and a sum (e.g. of sentiment scores or durations).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cell {
    pub count: i64,
    pub total: f64,
}

impl Cell {
    fn add(&mut self, other: Cell) {
        self.count += other.count;
        self.total += other.total;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    owner_id: Uuid,
    chatbot_id: Uuid,
    hour: DateTime<Utc>,
    metric: &'static str,
    dimension: String,
}

/// Raw rows folded into hourly cells; its size follows the distinct keys, not the rows.
#[derive(Debug, Default)]
pub struct Tally {
    cells: BTreeMap<Key, Cell>,
}

impl Tally {
    /// Counts one occurrence of `metric`/`dimension` at `at`, adding `value` to its sum.
    pub fn add(
        &mut self,
        owner_id: Uuid,
        chatbot_id: Uuid,
        at: DateTime<Utc>,
        metric: &'static str,
        dimension: &str,
        value: f64,
    ) {
        let key = Key {
            owner_id,
            chatbot_id,
            hour: floor_hour(at),
            metric,
            dimension: dimension.to_owned(),
        };
        self.cells.entry(key).or_default().add(Cell {
            count: 1,
            total: value,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Writes the cells as rollup rows; each hour is rolled once, so a row is
    /// never written twice (an overlap is a conflict, and the roll fails whole).
    pub async fn store<C: ConnectionTrait>(&self, conn: &C) -> Result<(), DbErr> {
        let rows: Vec<hourly::ActiveModel> = self
            .cells
            .iter()
            .map(|(key, cell)| hourly::ActiveModel {
                owner_id: Set(key.owner_id),
                hour: Set(key.hour),
                chatbot_id: Set(key.chatbot_id),
                metric: Set(key.metric.to_owned()),
                dimension: Set(key.dimension.clone()),
                count: Set(cell.count),
                total: Set(cell.total),
            })
            .collect();
        // Seven parameters a row; well under every driver's limit per statement.
        for batch in rows.chunks(1000) {
            hourly::Entity::insert_many(batch.to_vec())
                .exec_without_returning(conn)
                .await?;
        }
        Ok(())
    }
}

/// The sums an overview is made of: over the whole range, and per hour (or
/// day, when the range is cut by day) for the trend's metrics.
#[derive(Debug, Default)]
pub struct Sums {
    pub totals: HashMap<(String, String), Cell>,
    pub hourly: BTreeMap<(DateTime<Utc>, String, String), Cell>,
}

/// Where a slice's rollups end: every raw row before `hours_until` is in the
/// hourly tier, and every whole day before `days_until` in the daily tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolled {
    pub hours_until: DateTime<Utc>,
    pub days_until: DateTime<Utc>,
}

impl Rolled {
    /// Nothing rolled up yet: every row is read raw.
    pub const NOTHING: Rolled = Rolled {
        hours_until: DateTime::<Utc>::UNIX_EPOCH,
        days_until: DateTime::<Utc>::UNIX_EPOCH,
    };
}

impl Sums {
    /// The range's sum of `metric`/`dimension`.
    pub fn total(&self, metric: &str, dimension: &str) -> Cell {
        self.totals
            .get(&(metric.to_owned(), dimension.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Every dimension of `metric` with its sum.
    pub fn dimensions<'a>(&'a self, metric: &'a str) -> impl Iterator<Item = (&'a str, Cell)> + 'a {
        self.totals
            .iter()
            .filter(move |((m, _), _)| m == metric)
            .map(|((_, d), cell)| (d.as_str(), *cell))
    }

    fn add(&mut self, hour: DateTime<Utc>, metric: &str, dimension: &str, cell: Cell, trend: bool) {
        self.totals
            .entry((metric.to_owned(), dimension.to_owned()))
            .or_default()
            .add(cell);
        if trend {
            self.hourly
                .entry((hour, metric.to_owned(), dimension.to_owned()))
                .or_default()
                .add(cell);
        }
    }

    /// Adds a tally of raw rows (already limited to the caller and the range).
    pub fn add_tally(&mut self, tally: &Tally, trend_metrics: &[&str]) {
        for (key, cell) in &tally.cells {
            let trend = trend_metrics.contains(&key.metric);
            self.add(key.hour, key.metric, &key.dimension, *cell, trend);
        }
    }

    /// Adds the rollups of `owner_id` (and `chatbot_id`) for the range's hours
    /// that are rolled up (before `rolled.hours_until`), and returns where they
    /// end: the raw rows from there on are the caller's to fold. Whole days the
    /// daily tier holds are read from it, the hours around them from the hourly
    /// tier; the trend of an hourly range is read from the hourly tier throughout.
    pub async fn add_rollups<C: ConnectionTrait>(
        &mut self,
        db: &C,
        owner_id: Uuid,
        chatbot_id: Option<Uuid>,
        range: &Range,
        rolled: Rolled,
        trend_metrics: &[&str],
    ) -> Result<DateTime<Utc>, DbErr> {
        let until = rolled.hours_until.clamp(range.from, range.to);
        let slot = |from, to| Slot {
            owner_id,
            chatbot_id,
            from,
            to,
        };
        let (first_day, last_day) = (
            ceil_day(range.from),
            floor_day(until).min(floor_day(rolled.days_until)),
        );
        let hourly = if first_day < last_day {
            let days = slot(first_day, last_day);
            self.add_totals(DAYS.totals(db, &days).await?);
            if range.bucket == Bucket::Day {
                self.add_trend(DAYS.by_start(db, &days, trend_metrics).await?);
            } else {
                self.add_trend(HOURS.by_start(db, &days, trend_metrics).await?);
            }
            vec![slot(range.from, first_day), slot(last_day, until)]
        } else {
            vec![slot(range.from, until)]
        };
        for hours in hourly {
            self.add_totals(HOURS.totals(db, &hours).await?);
            self.add_trend(HOURS.by_start(db, &hours, trend_metrics).await?);
        }
        Ok(until)
    }

    fn add_totals(&mut self, rows: Vec<(String, String, i64, f64)>) {
        for (metric, dimension, count, total) in rows {
            self.totals
                .entry((metric, dimension))
                .or_default()
                .add(Cell { count, total });
        }
    }

    fn add_trend(&mut self, rows: Vec<(DateTime<Utc>, String, String, i64, f64)>) {
        for (start, metric, dimension, count, total) in rows {
            self.hourly
                .entry((start, metric, dimension))
                .or_default()
                .add(Cell { count, total });
        }
    }

    /// The trend's cells of `metric`, by the hour (or, in a daily range, the day) they start.
    pub fn hours_of<'a>(
        &'a self,
        metric: &'a str,
    ) -> impl Iterator<Item = (DateTime<Utc>, &'a str, Cell)> + 'a {
        self.hourly
            .iter()
            .filter(move |((_, m, _), _)| m == metric)
            .map(|((hour, _, d), cell)| (*hour, d.as_str(), *cell))
    }
}

/// The rollup's watermark, created at `initial` the first time.
pub async fn watermark<C: ConnectionTrait>(
    db: &C,
    name: &str,
    initial: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbErr> {
    watermark::Entity::insert(watermark::ActiveModel {
        name: Set(name.to_owned()),
        rolled_until: Set(floor_hour(initial)),
    })
    .on_conflict(
        OnConflict::column(watermark::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    read_watermark(db, name)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("analytics watermark {name}")))
}

/// The watermark, if the rollup has started.
pub async fn read_watermark<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(watermark::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .map(|w| w.rolled_until))
}

/// Moves the watermark from `expected` to `next` inside the caller's
/// transaction; false when another roller moved it first (then the caller
/// rolls back, and the hour is not counted twice). Called before the rollup
/// rows are written, so on PostgreSQL it holds the row for the transaction.
pub async fn advance<C: ConnectionTrait>(
    txn: &C,
    name: &str,
    expected: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let moved = watermark::Entity::update_many()
        .col_expr(watermark::Column::RolledUntil, Expr::value(next))
        .filter(watermark::Column::Name.eq(name))
        .filter(watermark::Column::RolledUntil.eq(expected))
        .exec(txn)
        .await?;
    Ok(moved.rows_affected == 1)
}
