//! Dead letters: executions that failed for good (their retries exhausted
//! or their error permanent) and jobs that could not be processed, with
//! everything needed to inspect and replay them.

use chrono::Utc;
use echoflow_contracts::EventType;
use sea_orm::Set;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub execution_id: Option<Uuid>,
    pub owner_id: Option<Uuid>,
    pub workflow_id: Option<Uuid>,
    pub workflow_version: Option<i32>,
    pub failed_step: Option<String>,
    pub input: Option<Json>,
    pub error: String,
    pub attempts: i32,
    /// `execution_failed` or `unprocessable_job`.
    pub reason: String,
    /// The job as received, for an unprocessable one.
    pub payload: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub replayed_at: Option<DateTimeUtc>,
    pub replay_execution_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const EXECUTION_FAILED: &str = "execution_failed";
pub const UNPROCESSABLE_JOB: &str = "unprocessable_job";

/// The step an execution failed at.
#[derive(Debug, Clone)]
pub struct FailedStep {
    pub node_id: String,
    pub input: serde_json::Value,
    pub attempts: i32,
}

/// Records a failed execution; returns the dead letter's id.
pub async fn record_failed<C: ConnectionTrait>(
    conn: &C,
    execution: &super::executions::Model,
    step: Option<&FailedStep>,
    error: &str,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    Entity::insert(ActiveModel {
        id: Set(id),
        execution_id: Set(Some(execution.id)),
        owner_id: Set(Some(execution.owner_id)),
        workflow_id: Set(Some(execution.workflow_id)),
        workflow_version: Set(Some(execution.workflow_version)),
        failed_step: Set(step.map(|s| s.node_id.clone())),
        input: Set(step.map(|s| s.input.clone())),
        error: Set(error.to_string()),
        attempts: Set(step.map_or(0, |s| s.attempts)),
        reason: Set(EXECUTION_FAILED.to_string()),
        payload: Set(None),
        created_at: Set(Utc::now()),
        replayed_at: Set(None),
        replay_execution_id: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(id)
}

/// Records a job that could not be processed at all.
pub async fn record_unprocessable<C: ConnectionTrait>(
    conn: &C,
    payload: &[u8],
    reason: &str,
    owner_id: Option<Uuid>,
    execution_id: Option<Uuid>,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: Set(Uuid::now_v7()),
        execution_id: Set(execution_id),
        owner_id: Set(owner_id),
        workflow_id: Set(None),
        workflow_version: Set(None),
        failed_step: Set(None),
        input: Set(None),
        error: Set(reason.to_string()),
        attempts: Set(1),
        reason: Set(UNPROCESSABLE_JOB.to_string()),
        payload: Set(Some(payload.to_vec())),
        created_at: Set(Utc::now()),
        replayed_at: Set(None),
        replay_execution_id: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Puts a copy of the dead letter on `echoflow.dlx` (which routes it to
/// `executor.dead`) through the outbox, with its reason in the headers.
pub async fn publish<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    execution: &super::executions::Model,
    step: Option<&FailedStep>,
    error: &str,
) -> Result<(), DbErr> {
    use echoflow_bus::{OutgoingMessage, REASON_HEADER, outbox, topology};
    let body = serde_json::json!({
        "dead_letter_id": id,
        "execution_id": execution.id,
        "workflow_id": execution.workflow_id,
        "workflow_version": execution.workflow_version,
        "owner_id": execution.owner_id,
        "failed_step": step.map(|s| s.node_id.clone()),
        "attempts": step.map(|s| s.attempts),
        "error": error,
    });
    let message = OutgoingMessage::new(
        id.to_string(),
        EventType::ExecutionFailed.as_str(),
        "application/json",
        serde_json::to_vec(&body).map_err(|e| DbErr::Custom(e.to_string()))?,
    )
    .with_header(REASON_HEADER, error.chars().take(500).collect::<String>());
    outbox::enqueue(conn, topology::DEAD_LETTER_EXCHANGE, &message).await
}
