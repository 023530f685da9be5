//! Which registry replica runs a scheduler tick: the one that takes the
//! database lock in the tick's transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, DeriveIden, Statement};

/// The key of the scheduler's PostgreSQL advisory lock ("echoschd"); advisory
/// locks are per database, so it must not collide with another service's.
const ADVISORY_KEY: i64 = 0x6563_686f_7363_6864;
/// The name of the scheduler's row in `scheduler_lock` (SQLite).
const LOCK_NAME: &str = "scheduler";

#[derive(DeriveIden)]
enum SchedulerLock {
    Table,
    Name,
    Holder,
    LeaseUntil,
}

/// Called first in a tick's transaction: `Ok(true)` if this replica leads
/// the tick, and then no other replica's tick can overlap it until `txn`
/// ends.
///
/// PostgreSQL: `pg_try_advisory_xact_lock`, released by the commit or
/// rollback (also when the process dies, as its connection goes). SQLite: a
/// lease row, taken when free, expired, or already `holder`'s, by one
/// conditional upsert; `txn` is a writer transaction
/// ([`echoflow_service_kit::db::begin_writer`]), so no other replica's tick
/// writes until it ends.
pub async fn lead<C: ConnectionTrait>(
    txn: &C,
    holder: &str,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<bool, DbErr> {
    match txn.get_database_backend() {
        DatabaseBackend::Postgres => {
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1) AS locked",
                    [ADVISORY_KEY.into()],
                ))
                .await?
                .ok_or_else(|| DbErr::Custom("pg_try_advisory_xact_lock gave no row".into()))?;
            row.try_get::<bool>("", "locked")
        }
        _ => take_lease(txn, holder, now, lease).await,
    }
}

async fn take_lease<C: ConnectionTrait>(
    txn: &C,
    holder: &str,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<bool, DbErr> {
    let upsert = Query::insert()
        .into_table(SchedulerLock::Table)
        .columns([
            SchedulerLock::Name,
            SchedulerLock::Holder,
            SchedulerLock::LeaseUntil,
        ])
        .values([
            Expr::val(LOCK_NAME),
            Expr::val(holder),
            Expr::val(now + lease),
        ])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::column(SchedulerLock::Name)
                .update_columns([SchedulerLock::Holder, SchedulerLock::LeaseUntil])
                .action_and_where(
                    Expr::col((SchedulerLock::Table, SchedulerLock::Holder))
                        .eq(holder)
                        .or(Expr::col((SchedulerLock::Table, SchedulerLock::LeaseUntil)).lt(now)),
                )
                .to_owned(),
        )
        .to_owned();
    Ok(txn.execute(&upsert).await?.rows_affected() == 1)
}

/// Gives up `holder`'s lease (SQLite), so that a successor need not wait for
/// it to expire. Nothing to do on PostgreSQL.
pub async fn release<C: ConnectionTrait>(conn: &C, holder: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        return Ok(());
    }
    let delete = Query::delete()
        .from_table(SchedulerLock::Table)
        .and_where(Expr::col(SchedulerLock::Name).eq(LOCK_NAME))
        .and_where(Expr::col(SchedulerLock::Holder).eq(holder))
        .to_owned();
    conn.execute(&delete).await?;
    Ok(())
}
