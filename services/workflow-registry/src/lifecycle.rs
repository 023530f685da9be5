//! The end of workflows and of what the registry holds of an end user: a
//! workflow deleted with everything that starts it (its trigger, webhook and
//! schedule), all of a deleted chatbot's workflows (`chatbot.deleted`), and
//! an erased end user's debounce records (`chatbot.end_user_erased`), each
//! with its audit entry.

use echoflow_contracts::EventType;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{
    audit, deliveries, firings, schedules, triggers, versions, webhooks, workflows,
};

/// Deletes `wf` and everything of it, children first (SQLite enforces
/// foreign keys only when asked, PostgreSQL always): its webhook (the URL
/// answers 404 from the commit on), its trigger-index row (no event starts
/// it), its schedule (it no longer fires), its versions, debounce records
/// and webhook deliveries. Its executions stay (the executor's slice).
pub async fn delete_workflow<C: ConnectionTrait>(
    txn: &C,
    wf: &workflows::Model,
) -> Result<(), DbErr> {
    webhooks::Entity::delete_many()
        .filter(webhooks::Column::WorkflowId.eq(wf.id))
        .exec(txn)
        .await?;
    triggers::Entity::delete_by_id(wf.id).exec(txn).await?;
    schedules::Entity::delete_by_id(wf.id).exec(txn).await?;
    firings::forget(txn, &[wf.id], None).await?;
    deliveries::forget_workflow(txn, wf.id).await?;
    versions::Entity::delete_many()
        .filter(versions::Column::WorkflowId.eq(wf.id))
        .exec(txn)
        .await?;
    workflows::Entity::delete_by_id(wf.id).exec(txn).await?;
    Ok(())
}

/// The owner's workflows of the chatbot.
async fn of_chatbot<C: ConnectionTrait>(
    txn: &C,
    owner_id: Uuid,
    chatbot_id: Uuid,
) -> Result<Vec<workflows::Model>, DbErr> {
    workflows::Entity::find()
        .filter(workflows::Column::OwnerId.eq(owner_id))
        .filter(workflows::Column::ChatbotId.eq(chatbot_id))
        .order_by_asc(workflows::Column::Id)
        .all(txn)
        .await
}

/// On `chatbot.deleted`: deletes every workflow of the chatbot (each with a
/// `workflow.deleted` audit entry whose reason is the chatbot's deletion),
/// then records `chatbot.deleted` itself (its `workflow_id` is the
/// chatbot's id). A redelivery finds nothing left to delete.
pub async fn retire_chatbot<C: ConnectionTrait>(
    txn: &C,
    owner_id: Uuid,
    chatbot_id: Uuid,
) -> Result<usize, DbErr> {
    let doomed = of_chatbot(txn, owner_id, chatbot_id).await?;
    for wf in &doomed {
        delete_workflow(txn, wf).await?;
        let details = json!({"name": wf.name, "chatbot_id": chatbot_id,
            "version": wf.current_version, "reason": EventType::ChatbotDeleted.as_str()});
        audit::record(txn, owner_id, owner_id, audit::DELETED, wf.id, details).await?;
    }
    let ids: Vec<Uuid> = doomed.iter().map(|wf| wf.id).collect();
    let details = json!({"chatbot_id": chatbot_id, "deleted_workflows": ids});
    audit::record(
        txn,
        owner_id,
        owner_id,
        audit::CHATBOT_DELETED,
        chatbot_id,
        details,
    )
    .await?;
    Ok(ids.len())
}

/// On `chatbot.end_user_erased`: forgets the debounce records of the end
/// user's conversations in the chatbot's workflows, and records the erasure
/// (`chatbot.end_user_erased`, `workflow_id` = the chatbot) with the SHA-256
/// of the email instead of the email: the proof that it was erased must not
/// keep what was erased.
pub async fn erase_end_user<C: ConnectionTrait>(
    txn: &C,
    owner_id: Uuid,
    chatbot_id: Uuid,
    data: &Value,
) -> Result<(), DbErr> {
    let email = data["email"].as_str().unwrap_or_default();
    let conversations: Vec<String> = data["session_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let workflow_ids: Vec<Uuid> = of_chatbot(txn, owner_id, chatbot_id)
        .await?
        .into_iter()
        .map(|wf| wf.id)
        .collect();
    let mut forgotten = 0;
    for chunk in conversations.chunks(500) {
        forgotten += firings::forget(txn, &workflow_ids, Some(chunk)).await?;
    }
    let details = json!({
        "chatbot_id": chatbot_id,
        "email_sha256": hex::encode(Sha256::digest(email.as_bytes())),
        "conversations": conversations.len(),
        "debounce_records_forgotten": forgotten,
    });
    audit::record(
        txn,
        owner_id,
        owner_id,
        audit::END_USER_ERASED,
        chatbot_id,
        details,
    )
    .await
}
