//! Executions: one run of one workflow version.

use chrono::Utc;
use echoflow_contracts::{ExecutionJob, TriggerEvent};
use sea_orm::entity::prelude::*;
use sea_orm::{Set, sea_query::OnConflict};
use serde_json::{Value, json};

use super::status;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "executions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub owner_id: Uuid,
    pub chatbot_id: Uuid,
    pub status: String,
    pub trigger: Json,
    pub plan: Option<Json>,
    pub error: Option<String>,
    pub retry_of: Option<Uuid>,
    /// Inputs a retry gave for some steps, by node id (used instead of their config).
    pub step_inputs: Option<Json>,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The trigger as expressions and the API see it.
pub fn trigger_json(trigger: Option<&TriggerEvent>) -> Value {
    match trigger {
        Some(t) => json!({
            "id": t.id,
            "type": t.r#type,
            "source": t.source,
            "time": t.time,
            "chatbot_id": t.chatbot_id,
            "user_id": t.user_id,
            "data": t.data(),
        }),
        None => Value::Null,
    }
}

/// Parsed ids of a job; a job that fails this is dead-lettered.
pub struct JobIds {
    pub execution_id: Uuid,
    pub workflow_id: Uuid,
    pub owner_id: Uuid,
    pub chatbot_id: Uuid,
    pub retry_of: Option<Uuid>,
}

impl JobIds {
    pub fn parse(job: &ExecutionJob) -> Result<Self, String> {
        let id = |name: &str, s: &str| {
            Uuid::parse_str(s).map_err(|_| format!("{name} {s:?} is not a UUID"))
        };
        Ok(Self {
            execution_id: id("execution_id", &job.execution_id)?,
            workflow_id: id("workflow_id", &job.workflow_id)?,
            owner_id: id("owner_id", &job.owner_id)?,
            chatbot_id: id("chatbot_id", &job.chatbot_id)?,
            retry_of: if job.retry_of.is_empty() {
                None
            } else {
                Some(id("retry_of", &job.retry_of)?)
            },
        })
    }
}

/// Records the job as `queued` unless the execution already exists (one
/// statement; the answer of the announcement does not need the row).
pub async fn insert_queued<C: ConnectionTrait>(
    db: &C,
    job: &ExecutionJob,
    ids: &JobIds,
) -> Result<(), DbErr> {
    Entity::insert(queued_row(job, ids))
        .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Records the job as `queued` unless the execution already exists; returns
/// the execution as it now stands.
pub async fn ensure_queued<C: ConnectionTrait>(
    db: &C,
    job: &ExecutionJob,
    ids: &JobIds,
) -> Result<Model, DbErr> {
    // The registry usually announced the execution already: one read then.
    if let Some(existing) = Entity::find_by_id(ids.execution_id).one(db).await? {
        return Ok(existing);
    }
    insert_queued(db, job, ids).await?;
    Entity::find_by_id(ids.execution_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("execution {}", ids.execution_id)))
}

fn queued_row(job: &ExecutionJob, ids: &JobIds) -> ActiveModel {
    let plan: Option<Value> = serde_json::from_str(&job.plan_json).ok();
    let queued_at = chrono::DateTime::parse_from_rfc3339(&job.queued_at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    ActiveModel {
        id: Set(ids.execution_id),
        workflow_id: Set(ids.workflow_id),
        workflow_version: Set(job.workflow_version),
        owner_id: Set(ids.owner_id),
        chatbot_id: Set(ids.chatbot_id),
        status: Set(status::QUEUED.to_string()),
        trigger: Set(trigger_json(job.trigger.as_ref())),
        plan: Set(plan),
        error: Set(None),
        retry_of: Set(ids.retry_of),
        step_inputs: Set(None),
        queued_at: Set(queued_at),
        started_at: Set(None),
        completed_at: Set(None),
    }
}
