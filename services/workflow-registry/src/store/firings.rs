//! Debounce of conversation triggers: when each workflow last fired for each
//! conversation (`trigger_firings`).

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden};
use uuid::Uuid;

#[derive(DeriveIden)]
enum TriggerFirings {
    Table,
    WorkflowId,
    ConversationKey,
    FiredAt,
}

/// Inside the consumer's transaction: records that `workflow_id` fires at
/// `now` for `conversation_key`, unless it already fired for it within
/// `window`. `Ok(true)` if it may fire (and the firing is recorded).
///
/// One statement, an upsert whose update only happens when the last firing
/// is old enough: a concurrent transaction firing for the same conversation
/// holds the row until it commits, and this one then sees its fresh
/// `fired_at` and updates nothing (PostgreSQL re-checks the condition on the
/// committed row; SQLite serialises writers).
#[tracing::instrument(skip(conn))]
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    workflow_id: Uuid,
    conversation_key: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<bool, DbErr> {
    let quiet_since = now - window;
    let upsert = Query::insert()
        .into_table(TriggerFirings::Table)
        .columns([
            TriggerFirings::WorkflowId,
            TriggerFirings::ConversationKey,
            TriggerFirings::FiredAt,
        ])
        .values([
            Expr::val(workflow_id),
            Expr::val(conversation_key),
            Expr::val(now),
        ])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::columns([TriggerFirings::WorkflowId, TriggerFirings::ConversationKey])
                .update_column(TriggerFirings::FiredAt)
                .action_and_where(
                    Expr::col((TriggerFirings::Table, TriggerFirings::FiredAt)).lte(quiet_since),
                )
                .to_owned(),
        )
        .to_owned();
    let result = conn.execute(&upsert).await?;
    Ok(result.rows_affected() == 1)
}

/// Forgets the debounce records of `workflow_ids` (workflows being deleted),
/// or with `conversations` only those of these conversations (an erased end
/// user's). Returns how many went.
pub async fn forget<C: ConnectionTrait>(
    conn: &C,
    workflow_ids: &[Uuid],
    conversations: Option<&[String]>,
) -> Result<u64, DbErr> {
    if workflow_ids.is_empty() || conversations.is_some_and(<[String]>::is_empty) {
        return Ok(0);
    }
    let mut delete = Query::delete()
        .from_table(TriggerFirings::Table)
        .and_where(Expr::col(TriggerFirings::WorkflowId).is_in(workflow_ids.iter().copied()))
        .to_owned();
    if let Some(keys) = conversations {
        delete.and_where(Expr::col(TriggerFirings::ConversationKey).is_in(keys.iter().cloned()));
    }
    Ok(conn.execute(&delete).await?.rows_affected())
}
