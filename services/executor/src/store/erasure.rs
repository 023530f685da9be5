//! What the executions slice gives up when a chatbot ends: its unfinished
//! executions cancelled (`chatbot.deleted`), and the payloads of the
//! executions an erased end user's conversations started
//! (`chatbot.end_user_erased`).

use echoflow_bus::dedupe;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{dead_letters, executions, status, steps};

/// What an erased payload reads as.
pub const ERASED: &str = "[erased]";
/// Why the executions of a deleted chatbot ended.
pub const CHATBOT_DELETED: &str = "cancelled: its chatbot was deleted";
/// The `processed_messages` consumer name under which deleted chatbots are
/// remembered, so that a job of theirs that arrives later is not run.
const RETIRED_CHATBOTS: &str = "executor.retired-chatbots";

/// Rows read per page when scanning a chatbot's executions.
const PAGE: u64 = 200;

/// Remembers that the chatbot was deleted (once; idempotent).
pub async fn retire_chatbot<C: ConnectionTrait>(conn: &C, chatbot_id: Uuid) -> Result<(), DbErr> {
    dedupe::first_delivery(conn, RETIRED_CHATBOTS, &chatbot_id.to_string()).await?;
    Ok(())
}

/// Whether the chatbot was deleted: its jobs are cancelled, not run.
pub async fn is_retired<C: ConnectionTrait>(conn: &C, chatbot_id: Uuid) -> Result<bool, DbErr> {
    dedupe::was_recorded(conn, RETIRED_CHATBOTS, &chatbot_id.to_string()).await
}

/// The next page of the owner's unfinished executions of the chatbot.
pub async fn unfinished<C: ConnectionTrait>(
    conn: &C,
    owner_id: Uuid,
    chatbot_id: Uuid,
) -> Result<Vec<executions::Model>, DbErr> {
    executions::Entity::find()
        .filter(executions::Column::OwnerId.eq(owner_id))
        .filter(executions::Column::ChatbotId.eq(chatbot_id))
        .filter(executions::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .order_by_asc(executions::Column::Id)
        .limit(PAGE)
        .all(conn)
        .await
}

/// The owner's executions of the chatbot whose trigger came from the end
/// user: a trigger (or, for an error workflow's run, the failed run's
/// trigger inside it) naming their email or one of their conversations.
/// Scanned page by page, only ids and triggers in memory.
pub async fn started_by<C: ConnectionTrait>(
    conn: &C,
    owner_id: Uuid,
    chatbot_id: Uuid,
    email: &str,
    sessions: &[String],
) -> Result<Vec<Uuid>, DbErr> {
    let mut found = Vec::new();
    let mut after: Option<Uuid> = None;
    loop {
        let mut page = executions::Entity::find()
            .select_only()
            .columns([executions::Column::Id, executions::Column::Trigger])
            .filter(executions::Column::OwnerId.eq(owner_id))
            .filter(executions::Column::ChatbotId.eq(chatbot_id))
            .order_by_asc(executions::Column::Id)
            .limit(PAGE);
        if let Some(after) = after {
            page = page.filter(executions::Column::Id.gt(after));
        }
        let rows: Vec<(Uuid, Value)> = page.into_tuple().all(conn).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(found);
        };
        after = Some(*last);
        found.extend(
            rows.iter()
                .filter(|(_, trigger)| names_end_user(trigger, email, sessions, 0))
                .map(|(id, _)| *id),
        );
    }
}

/// Whether `value` holds, at any depth up to 8, an object whose
/// `user_email` is `email` (any case) or whose `session_id` is one of `sessions`.
fn names_end_user(value: &Value, email: &str, sessions: &[String], depth: u8) -> bool {
    if depth > 8 {
        return false;
    }
    match value {
        Value::Object(map) => {
            let by_email = map
                .get("user_email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email));
            let by_session = map
                .get("session_id")
                .and_then(Value::as_str)
                .is_some_and(|s| sessions.iter().any(|k| k == s));
            by_email
                || by_session
                || map
                    .values()
                    .any(|v| names_end_user(v, email, sessions, depth + 1))
        }
        Value::Array(items) => items
            .iter()
            .any(|v| names_end_user(v, email, sessions, depth + 1)),
        _ => false,
    }
}

/// Erases the payloads of one execution, keeping what it was (workflow,
/// version, status, timings, which steps ran and how): its trigger's data,
/// the inputs a retry gave, every step's input and output, error messages
/// (they can quote a payload), and its dead letters' input and job.
pub async fn erase_payloads<C: ConnectionTrait>(
    conn: &C,
    execution: &executions::Model,
) -> Result<(), DbErr> {
    let mut trigger = execution.trigger.clone();
    if let Some(map) = trigger.as_object_mut() {
        map.insert("data".into(), json!({"erased": true}));
    }
    executions::Entity::update_many()
        .col_expr(executions::Column::Trigger, Expr::value(trigger))
        .col_expr(
            executions::Column::StepInputs,
            Expr::value(Option::<Value>::None),
        )
        .filter(executions::Column::Id.eq(execution.id))
        .exec(conn)
        .await?;
    executions::Entity::update_many()
        .col_expr(executions::Column::Error, Expr::value(ERASED))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Error.is_not_null())
        .exec(conn)
        .await?;
    steps::Entity::update_many()
        .col_expr(steps::Column::Input, Expr::value(Option::<Value>::None))
        .col_expr(steps::Column::Output, Expr::value(Option::<Value>::None))
        .filter(steps::Column::ExecutionId.eq(execution.id))
        .exec(conn)
        .await?;
    steps::Entity::update_many()
        .col_expr(steps::Column::Error, Expr::value(ERASED))
        .filter(steps::Column::ExecutionId.eq(execution.id))
        .filter(steps::Column::Error.is_not_null())
        .exec(conn)
        .await?;
    dead_letters::Entity::update_many()
        .col_expr(
            dead_letters::Column::Input,
            Expr::value(Option::<Value>::None),
        )
        .col_expr(
            dead_letters::Column::Payload,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(dead_letters::Column::Error, Expr::value(ERASED))
        .filter(dead_letters::Column::ExecutionId.eq(execution.id))
        .exec(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_user_is_found_by_email_or_conversation_at_any_depth() {
        let sessions = vec!["s-1".to_string()];
        let by_email = json!({"data": {"user_email": "Ann@Example.com", "session_id": "s-9"}});
        let by_session = json!({"data": {"user_email": null, "session_id": "s-1"}});
        let nested = json!({"data": {"trigger": {"data": {"user_email": "ann@example.com"}}}});
        let other = json!({"data": {"user_email": "bob@example.com", "session_id": "s-2"}});
        for hit in [&by_email, &by_session, &nested] {
            assert!(
                names_end_user(hit, "ann@example.com", &sessions, 0),
                "{hit}"
            );
        }
        assert!(!names_end_user(&other, "ann@example.com", &sessions, 0));
        assert!(!names_end_user(
            &Value::Null,
            "ann@example.com",
            &sessions,
            0
        ));
    }
}
