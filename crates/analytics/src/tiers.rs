//! The two tiers of rollups a slice keeps: `analytics_hourly` (rolled from
//! the raw rows) and `analytics_daily` (rolled from a whole UTC day's hourly
//! rows once the day has closed). Both have the same shape, so an overview of
//! 30 days reads about 30 rows per metric and dimension instead of 720.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::range::Bucket;

/// One tier: its table and the column holding each row's start (an hour or a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub table: &'static str,
    pub start: &'static str,
    /// How long a row covers.
    pub bucket: Bucket,
}

pub const HOURS: Tier = Tier {
    table: "analytics_hourly",
    start: "hour",
    bucket: Bucket::Hour,
};

pub const DAYS: Tier = Tier {
    table: "analytics_daily",
    start: "day",
    bucket: Bucket::Day,
};

/// The rows a read covers: one owner's (and one chatbot's) rows starting in `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub owner_id: Uuid,
    pub chatbot_id: Option<Uuid>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// `SUM(count)` as a BIGINT (a SUM of BIGINT is NUMERIC on PostgreSQL) and `SUM(total)`.
fn sums(select: &mut SelectStatement) {
    select
        .expr_as(
            Func::cast_as(Func::sum(col("count")), Alias::new("bigint")),
            Alias::new("count"),
        )
        .expr_as(Func::sum(col("total")), Alias::new("total"));
}

impl Tier {
    /// `SELECT ... FROM <tier> WHERE` the slot's owner, chatbot and starts.
    fn select(self, slot: &Slot) -> SelectStatement {
        let mut select = Query::select();
        select
            .from(Alias::new(self.table))
            .and_where(col("owner_id").eq(slot.owner_id))
            .and_where(col(self.start).gte(slot.from))
            .and_where(col(self.start).lt(slot.to));
        if let Some(id) = slot.chatbot_id {
            select.and_where(col("chatbot_id").eq(id));
        }
        select
    }

    /// The slot's sums by metric and dimension: `(metric, dimension, count, total)`.
    pub async fn totals<C: ConnectionTrait>(
        self,
        db: &C,
        slot: &Slot,
    ) -> Result<Vec<(String, String, i64, f64)>, DbErr> {
        if slot.from >= slot.to {
            return Ok(Vec::new());
        }
        let mut select = self.select(slot);
        select
            .column(Alias::new("metric"))
            .column(Alias::new("dimension"));
        sums(&mut select);
        select
            .group_by_col(Alias::new("metric"))
            .group_by_col(Alias::new("dimension"));
        db.query_all(&select)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("", "metric")?,
                    row.try_get("", "dimension")?,
                    row.try_get("", "count")?,
                    row.try_get("", "total")?,
                ))
            })
            .collect()
    }

    /// The slot's sums of `metrics` per row start: `(start, metric, dimension, count, total)`.
    pub async fn by_start<C: ConnectionTrait>(
        self,
        db: &C,
        slot: &Slot,
        metrics: &[&str],
    ) -> Result<Vec<(DateTime<Utc>, String, String, i64, f64)>, DbErr> {
        if slot.from >= slot.to || metrics.is_empty() {
            return Ok(Vec::new());
        }
        let mut select = self.select(slot);
        select
            .expr_as(col(self.start), Alias::new("start"))
            .column(Alias::new("metric"))
            .column(Alias::new("dimension"))
            .and_where(col("metric").is_in(metrics.iter().copied()));
        sums(&mut select);
        select
            .group_by_col(Alias::new(self.start))
            .group_by_col(Alias::new("metric"))
            .group_by_col(Alias::new("dimension"));
        db.query_all(&select)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("", "start")?,
                    row.try_get("", "metric")?,
                    row.try_get("", "dimension")?,
                    row.try_get("", "count")?,
                    row.try_get("", "total")?,
                ))
            })
            .collect()
    }

    /// The earliest row start at or after `from`, of any owner.
    pub async fn first_start<C: ConnectionTrait>(
        self,
        db: &C,
        from: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        let mut select = Query::select();
        select
            .expr_as(Func::min(col(self.start)), Alias::new("first"))
            .from(Alias::new(self.table))
            .and_where(col(self.start).gte(from));
        match db.query_one(&select).await? {
            Some(row) => row.try_get("", "first"),
            None => Ok(None),
        }
    }
}

/// Writes the daily rows of the UTC day starting at `day`: every hourly row
/// of that day summed per owner, chatbot, metric and dimension. Runs once a
/// day per slice, inside the transaction that moves the daily watermark.
pub async fn roll_day<C: ConnectionTrait>(txn: &C, day: DateTime<Utc>) -> Result<(), DbErr> {
    let keys = ["owner_id", "chatbot_id", "metric", "dimension"];
    let mut select = Query::select();
    select
        .column(Alias::new("owner_id"))
        .expr_as(Expr::val(day), Alias::new("day"))
        .column(Alias::new("chatbot_id"))
        .column(Alias::new("metric"))
        .column(Alias::new("dimension"));
    sums(&mut select);
    select
        .from(Alias::new(HOURS.table))
        .and_where(col(HOURS.start).gte(day))
        .and_where(col(HOURS.start).lt(day + Bucket::Day.length()));
    for key in keys {
        select.group_by_col(Alias::new(key));
    }
    let insert = Query::insert()
        .into_table(Alias::new(DAYS.table))
        .columns(
            [
                "owner_id",
                "day",
                "chatbot_id",
                "metric",
                "dimension",
                "count",
                "total",
            ]
            .map(Alias::new),
        )
        .select_from(select)
        .map_err(|e| DbErr::Custom(format!("the daily roll-up statement: {e}")))?
        .to_owned();
    txn.execute(&insert).await?;
    Ok(())
}
