//! `GET /api/v1/executions` and `GET /api/v1/executions/{id}`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::store::{executions, status, steps};

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    pub workflow_id: Option<Uuid>,
    pub chatbot_id: Option<Uuid>,
    /// queued, running, completed, failed or cancelled.
    #[param(schema_with = status_filter_schema)]
    pub status: Option<String>,
}

/// The status filter as an enum of the stored statuses (a pattern would let a
/// client's regex engine accept `queued\n`).
fn status_filter_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(status::ALL.iter().copied()))
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionSummary {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub chatbot_id: Uuid,
    pub status: String,
    pub error: Option<String>,
    pub retry_of: Option<Uuid>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    pub items: Vec<ExecutionSummary>,
    pub total: u64,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub node_id: String,
    pub node_type: String,
    pub status: String,
    pub attempts: i32,
    #[schema(value_type = Object)]
    pub input: Option<Value>,
    #[schema(value_type = Object)]
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    #[schema(value_type = Object)]
    pub trigger: Value,
    pub steps: Vec<StepView>,
}

fn summary(e: &executions::Model) -> ExecutionSummary {
    ExecutionSummary {
        id: e.id,
        workflow_id: e.workflow_id,
        workflow_version: e.workflow_version,
        chatbot_id: e.chatbot_id,
        status: e.status.clone(),
        error: e.error.clone(),
        retry_of: e.retry_of,
        queued_at: e.queued_at,
        started_at: e.started_at,
        completed_at: e.completed_at,
        duration_ms: match (e.started_at, e.completed_at) {
            (Some(s), Some(c)) => Some((c - s).num_milliseconds()),
            _ => None,
        },
    }
}

/// The caller's executions, newest first.
#[utoipa::path(get, path = "/api/v1/executions", operation_id = "listExecutions", tag = "executions", params(ListQuery, PaginationParams),
    responses((status = 200, body = ExecutionList), (status = 422, description = "bad filter")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user, query, page), fields(user_id = %user.id))]
pub async fn list(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    query: web::Query<ListQuery>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let mut select = executions::Entity::find().filter(executions::Column::OwnerId.eq(user.id));
    if let Some(wf) = query.workflow_id {
        select = select.filter(executions::Column::WorkflowId.eq(wf));
    }
    if let Some(chatbot) = query.chatbot_id {
        select = select.filter(executions::Column::ChatbotId.eq(chatbot));
    }
    if let Some(wanted) = &query.status {
        if !status::ALL.contains(&wanted.as_str()) {
            return Err(ApiError::validation(
                format!("status must be one of {}", status::ALL.join(", ")),
                json!({"path": "status"}),
            ));
        }
        select = select.filter(executions::Column::Status.eq(wanted.clone()));
    }
    let total = select.clone().count(db.get_ref()).await?;
    let items = select
        .order_by_desc(executions::Column::QueuedAt)
        .order_by_desc(executions::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?
        .iter()
        .map(summary)
        .collect();
    Ok(HttpResponse::Ok().json(ExecutionList { items, total }))
}

/// One execution with its trigger and every step's input and output.
#[utoipa::path(get, path = "/api/v1/executions/{id}", operation_id = "getExecution", tag = "executions",
    responses((status = 200, body = ExecutionDetail), (status = 404, description = "not found")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn get(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let execution = executions::Entity::find_by_id(*id)
        .filter(executions::Column::OwnerId.eq(user.id))
        .one(db.get_ref())
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))?;
    let steps = steps::of_execution(db.get_ref(), execution.id)
        .await?
        .into_iter()
        .map(|s| StepView {
            node_id: s.node_id,
            node_type: s.node_type,
            status: s.status,
            attempts: s.attempts,
            input: s.input,
            output: s.output,
            error: s.error,
            started_at: s.started_at,
            duration_ms: s.duration_ms,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ExecutionDetail {
        summary: summary(&execution),
        trigger: execution.trigger,
        steps,
    }))
}
