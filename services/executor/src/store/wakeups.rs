//! Durable waits: an execution that waits (a retry's backoff, a delay, a
//! free slot under its workflow's concurrency limit) holds no worker; a row
//! here says when to resume it, and the waker turns due rows into jobs.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{QueryOrder, QuerySelect, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wakeups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub execution_id: Uuid,
    pub workflow_id: Uuid,
    pub due_at: DateTimeUtc,
    /// `retry`, `delay` or `concurrency`.
    pub reason: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const RETRY: &str = "retry";
pub const DELAY: &str = "delay";
pub const CONCURRENCY: &str = "concurrency";

/// Resume `execution_id` at `due_at` (replacing any earlier wait of it).
pub async fn schedule<C: ConnectionTrait>(
    conn: &C,
    execution_id: Uuid,
    workflow_id: Uuid,
    due_at: DateTime<Utc>,
    reason: &str,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        execution_id: Set(execution_id),
        workflow_id: Set(workflow_id),
        due_at: Set(due_at),
        reason: Set(reason.to_string()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(Column::ExecutionId)
            .update_columns([Column::DueAt, Column::Reason])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Up to `limit` due waits, earliest first, taken (deleted) inside the
/// caller's writer transaction ([`echoflow_service_kit::db::begin_writer`]):
/// on PostgreSQL the rows are locked and rows locked by another executor are
/// skipped, so two waker loops never resume the same execution twice; on
/// SQLite the transaction holds the database's write lock.
pub async fn take_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::DueAt.lte(now))
        .order_by_asc(Column::DueAt)
        .limit(limit);
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        query = query.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let due = query.all(conn).await?;
    if !due.is_empty() {
        Entity::delete_many()
            .filter(Column::ExecutionId.is_in(due.iter().map(|w| w.execution_id)))
            .exec(conn)
            .await?;
    }
    Ok(due)
}

/// The earliest wait, to know how long the waker may sleep.
pub async fn next_due<C: ConnectionTrait>(conn: &C) -> Result<Option<DateTime<Utc>>, DbErr> {
    Ok(Entity::find()
        .order_by_asc(Column::DueAt)
        .one(conn)
        .await?
        .map(|w| w.due_at))
}

/// Brings the execution of `workflow_id` that has waited longest for a
/// concurrency slot (the oldest queued) forward to now: a slot was freed.
pub async fn wake_next_waiting<C: ConnectionTrait>(
    conn: &C,
    workflow_id: Uuid,
    except: Option<Uuid>,
) -> Result<(), DbErr> {
    use sea_orm::FromQueryResult;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
    #[derive(FromQueryResult)]
    struct Next {
        execution_id: Uuid,
    }
    let wakeups = Alias::new("wakeups");
    let executions = Alias::new("executions");
    let select = Query::select()
        .column((wakeups.clone(), Alias::new("execution_id")))
        .from(wakeups.clone())
        .inner_join(
            executions.clone(),
            Expr::col((executions.clone(), Alias::new("id")))
                .equals((wakeups.clone(), Alias::new("execution_id"))),
        )
        .and_where(Expr::col((wakeups.clone(), Alias::new("workflow_id"))).eq(workflow_id))
        .and_where(Expr::col((wakeups.clone(), Alias::new("reason"))).eq(CONCURRENCY))
        .and_where(
            Expr::col((wakeups.clone(), Alias::new("execution_id")))
                .ne(except.unwrap_or_else(Uuid::nil)),
        )
        .order_by((executions.clone(), Alias::new("queued_at")), Order::Asc)
        .order_by((executions, Alias::new("id")), Order::Asc)
        .limit(1)
        .to_owned();
    let next = Next::find_by_statement(conn.get_database_backend().build(&select))
        .one(conn)
        .await?;
    if let Some(next) = next {
        Entity::update_many()
            .col_expr(Column::DueAt, Expr::value(Utc::now()))
            .filter(Column::ExecutionId.eq(next.execution_id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

pub async fn cancel<C: ConnectionTrait>(conn: &C, execution_id: Uuid) -> Result<(), DbErr> {
    Entity::delete_by_id(execution_id).exec(conn).await?;
    Ok(())
}
