//! A retry's execution: a new row linked to its original, carrying the
//! original's finished steps when it retries from the failed step.

use chrono::Utc;
use sea_orm::Set;
use sea_orm::entity::prelude::*;
use serde_json::{Value, json};

use super::executions::{ActiveModel, Entity, Model};
use super::status;

/// A new execution that retries `original` (linked by `retry_of`): from the
/// start, or from its failed step, whose recorded predecessors are copied so
/// they are replayed, not run again. `input` replaces the failed step's
/// input. Inside the caller's writer transaction
/// ([`echoflow_service_kit::db::begin_writer`]), which commits and queues its job.
pub async fn insert_retry<C: ConnectionTrait>(
    txn: &C,
    original: &Model,
    from_failed_step: bool,
    input: Option<Value>,
) -> Result<Model, DbErr> {
    use super::steps;
    let id = Uuid::now_v7();
    let mut row = ActiveModel {
        id: Set(id),
        workflow_id: Set(original.workflow_id),
        workflow_version: Set(original.workflow_version),
        owner_id: Set(original.owner_id),
        chatbot_id: Set(original.chatbot_id),
        status: Set(status::QUEUED.to_string()),
        trigger: Set(original.trigger.clone()),
        plan: Set(original.plan.clone()),
        error: Set(None),
        retry_of: Set(Some(original.id)),
        step_inputs: Set(None),
        queued_at: Set(Utc::now()),
        started_at: Set(None),
        completed_at: Set(None),
    };
    Entity::insert(row.clone())
        .exec_without_returning(txn)
        .await?;
    let recorded = if from_failed_step {
        steps::of_execution(txn, original.id).await?
    } else {
        Vec::new()
    };
    // The step that failed the run: failed, and not continued from (those keep an output).
    let failed = recorded
        .iter()
        .filter(|s| s.status == status::FAILED && s.output.is_none())
        .max_by_key(|s| s.seq)
        .map(|s| s.node_id.clone());
    let step_inputs = match (input, &failed) {
        (Some(input), Some(node)) => Some(json!({ node: input })),
        _ => None,
    };
    if step_inputs.is_some() {
        row.step_inputs = Set(step_inputs);
        Entity::update(row.clone()).exec(txn).await?;
    }
    let model = Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("execution {id}")))?;
    for step in recorded
        .into_iter()
        .filter(|s| steps::is_final(&s.status) && Some(&s.node_id) != failed.as_ref())
    {
        steps::upsert(
            txn,
            steps::Model {
                execution_id: id,
                ..step
            },
        )
        .await?;
    }
    Ok(model)
}
