//! Webhook deliveries already accepted, by their deduplication key (an
//! idempotency header or a hash of the body), so a retried delivery is
//! answered with the execution the first one started.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden, FromQueryResult};
use uuid::Uuid;

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    WorkflowId,
    DedupeKey,
    ExecutionId,
    ReceivedAt,
}

/// What the delivery turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The first within the window: `execution_id` is now recorded for the key.
    First,
    /// A repeat: the execution the first delivery started.
    Repeat(Uuid),
}

#[derive(FromQueryResult)]
struct Recorded {
    execution_id: Uuid,
}

/// Inside the caller's transaction, as its first write: records the key for
/// `execution_id` unless a delivery with the same key was accepted within
/// `window`. One upsert whose update only happens when the recorded delivery
/// is older than the window; a concurrent transaction with the same key waits
/// for this one's row and then sees it (PostgreSQL re-checks the condition on
/// the committed row; SQLite serialises writers).
#[tracing::instrument(skip(conn))]
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    workflow_id: Uuid,
    key: &str,
    execution_id: Uuid,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Delivery, DbErr> {
    let expired_before = now - window;
    let upsert = Query::insert()
        .into_table(WebhookDeliveries::Table)
        .columns([
            WebhookDeliveries::WorkflowId,
            WebhookDeliveries::DedupeKey,
            WebhookDeliveries::ExecutionId,
            WebhookDeliveries::ReceivedAt,
        ])
        .values([
            Expr::val(workflow_id),
            Expr::val(key),
            Expr::val(execution_id),
            Expr::val(now),
        ])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::columns([WebhookDeliveries::WorkflowId, WebhookDeliveries::DedupeKey])
                .update_columns([
                    WebhookDeliveries::ExecutionId,
                    WebhookDeliveries::ReceivedAt,
                ])
                .action_and_where(
                    Expr::col((WebhookDeliveries::Table, WebhookDeliveries::ReceivedAt))
                        .lt(expired_before),
                )
                .to_owned(),
        )
        .to_owned();
    if conn.execute(&upsert).await?.rows_affected() == 1 {
        return Ok(Delivery::First);
    }
    let select = Query::select()
        .column(WebhookDeliveries::ExecutionId)
        .from(WebhookDeliveries::Table)
        .and_where(Expr::col(WebhookDeliveries::WorkflowId).eq(workflow_id))
        .and_where(Expr::col(WebhookDeliveries::DedupeKey).eq(key))
        .to_owned();
    let recorded = Recorded::find_by_statement(conn.get_database_backend().build(&select))
        .one(conn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("webhook delivery".into()))?;
    Ok(Delivery::Repeat(recorded.execution_id))
}

/// The execution of the delivery accepted with `key` within `window`, if
/// any: read without claiming, to answer a repeat that cannot be admitted
/// as a new delivery (every place to wait is taken) as the first one was.
#[tracing::instrument(skip(conn))]
pub async fn accepted<C: ConnectionTrait>(
    conn: &C,
    workflow_id: Uuid,
    key: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Option<Uuid>, DbErr> {
    let select = Query::select()
        .column(WebhookDeliveries::ExecutionId)
        .from(WebhookDeliveries::Table)
        .and_where(Expr::col(WebhookDeliveries::WorkflowId).eq(workflow_id))
        .and_where(Expr::col(WebhookDeliveries::DedupeKey).eq(key))
        .and_where(Expr::col(WebhookDeliveries::ReceivedAt).gte(now - window))
        .to_owned();
    let recorded = Recorded::find_by_statement(conn.get_database_backend().build(&select))
        .one(conn)
        .await?;
    Ok(recorded.map(|r| r.execution_id))
}

/// Forgets deliveries older than `before`, in batches; returns how many went.
pub async fn prune<C: ConnectionTrait>(conn: &C, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let delete = Query::delete()
        .from_table(WebhookDeliveries::Table)
        .and_where(Expr::col(WebhookDeliveries::ReceivedAt).lt(before))
        .to_owned();
    Ok(conn.execute(&delete).await?.rows_affected())
}

/// Forgets the deliveries of a workflow being deleted.
pub async fn forget_workflow<C: ConnectionTrait>(conn: &C, workflow_id: Uuid) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(WebhookDeliveries::Table)
        .and_where(Expr::col(WebhookDeliveries::WorkflowId).eq(workflow_id))
        .to_owned();
    conn.execute(&delete).await?;
    Ok(())
}
