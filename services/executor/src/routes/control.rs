//! Control of executions: cancel a queued or running one; retry a failed
//! or cancelled one from its failed step (optionally with a new input for
//! that step) or from the start; dead letters: list, inspect, replay.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_bus::outbox::OutboxHandle;
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, AuthUser, ErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::background::waker::{WakerHandle, resume_job};
use crate::engine::finish::{Ending, finish_in};
use crate::store::{dead_letters, executions, retries, status, wakeups};

/// What the control routes share.
pub struct Control {
    pub relay: OutboxHandle,
    pub waker: WakerHandle,
}

async fn owned(
    db: &DatabaseConnection,
    id: Uuid,
    user: &AuthUser,
) -> Result<executions::Model, ApiError> {
    executions::Entity::find_by_id(id)
        .filter(executions::Column::OwnerId.eq(user.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))
}

fn is_limited(execution: &executions::Model) -> bool {
    execution
        .plan
        .as_ref()
        .and_then(|p| p.pointer("/settings/max_concurrency"))
        .is_some_and(|v| !v.is_null())
}

#[derive(Serialize, ToSchema)]
pub struct Cancelled {
    pub execution_id: Uuid,
    pub status: String,
}

/// Cancel a queued or running execution: it ends `cancelled` at once; a
/// step running now is abandoned (its HTTP request dropped) and nothing
/// after it runs; a wait (retry, delay) is called off.
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", operation_id = "cancelExecution", tag = "executions",
    responses((status = 202, body = Cancelled), (status = 404), (status = 409, description = "already finished")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, execution_id = %id))]
pub async fn cancel(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    control: web::Data<Control>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let execution = owned(&db, *id, &user).await?;
    let txn = db.begin().await?;
    let now = Utc::now();
    // The wait goes first, so waking the next waiter cannot pick this one.
    wakeups::cancel(&txn, execution.id).await?;
    let end = Ending {
        status: status::CANCELLED,
        error: Some("cancelled by its owner".to_string()),
        failed: None,
        dead_letter: false,
    };
    if !finish_in(&txn, &execution, &end, is_limited(&execution)).await? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the execution already ended ({})", execution.status),
        ));
    }
    txn.commit().await?;
    control.relay.notify();
    control.waker.due_at(now);
    Ok(HttpResponse::Accepted().json(Cancelled {
        execution_id: execution.id,
        status: status::CANCELLED.to_string(),
    }))
}

#[derive(Deserialize, ToSchema, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RetryFrom {
    #[default]
    FailedStep,
    Start,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RetryRequest {
    /// `failed_step` (default): the steps that completed are kept, the run
    /// goes on from the one that failed; `start`: everything runs again.
    #[serde(default)]
    pub from: RetryFrom,
    /// With `failed_step`: the input the failed step runs with instead of its config.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct RetryAccepted {
    pub execution_id: Uuid,
    pub retry_of: Uuid,
}

/// Creates the linked retry and queues its job; the caller's transaction.
async fn queue_retry(
    db: &DatabaseConnection,
    original: &executions::Model,
    from: RetryFrom,
    input: Option<Value>,
) -> Result<executions::Model, ApiError> {
    let txn = echoflow_service_kit::db::begin_writer(db).await?;
    let retry = retries::insert_retry(&txn, original, from == RetryFrom::FailedStep, input).await?;
    crate::jobs::enqueue(&txn, &resume_job(&retry)).await?;
    txn.commit().await?;
    Ok(retry)
}

/// Retry a failed or cancelled execution as a new execution linked to it.
#[utoipa::path(post, path = "/api/v1/executions/{id}/retry", operation_id = "retryExecution", tag = "executions", request_body = RetryRequest,
    responses((status = 202, body = RetryAccepted), (status = 404), (status = 409, description = "not failed or cancelled"), (status = 422)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, execution_id = %id))]
pub async fn retry(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    control: web::Data<Control>,
    id: web::Path<Uuid>,
    body: Option<web::Json<RetryRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let original = owned(&db, *id, &user).await?;
    if !matches!(original.status.as_str(), status::FAILED | status::CANCELLED) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "only a failed or cancelled execution can be retried; this one is {}",
                original.status
            ),
        ));
    }
    if body.input.is_some() && body.from == RetryFrom::Start {
        return Err(ApiError::validation(
            "input is for the failed step: use it with from = failed_step",
            json!({"path": "input"}),
        ));
    }
    let retry = queue_retry(&db, &original, body.from, body.input).await?;
    control.relay.notify();
    Ok(HttpResponse::Accepted().json(RetryAccepted {
        execution_id: retry.id,
        retry_of: original.id,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct DeadLetterQuery {
    pub workflow_id: Option<Uuid>,
    /// Only dead letters created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// true: only replayed ones; false: only those not replayed yet.
    pub replayed: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    pub id: Uuid,
    pub execution_id: Option<Uuid>,
    pub workflow_id: Option<Uuid>,
    pub workflow_version: Option<i32>,
    pub failed_step: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    pub error: String,
    pub attempts: i32,
    /// `execution_failed` or `unprocessable_job`.
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
    pub replay_execution_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterList {
    pub items: Vec<DeadLetterView>,
    pub total: u64,
}

impl From<dead_letters::Model> for DeadLetterView {
    fn from(d: dead_letters::Model) -> Self {
        Self {
            id: d.id,
            execution_id: d.execution_id,
            workflow_id: d.workflow_id,
            workflow_version: d.workflow_version,
            failed_step: d.failed_step,
            input: d.input,
            error: d.error,
            attempts: d.attempts,
            reason: d.reason,
            created_at: d.created_at,
            replayed_at: d.replayed_at,
            replay_execution_id: d.replay_execution_id,
        }
    }
}

/// The caller's dead letters, newest first.
#[utoipa::path(get, path = "/api/v1/dead-letters", operation_id = "listDeadLetters", tag = "executions", params(DeadLetterQuery, PaginationParams),
    responses((status = 200, body = DeadLetterList)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list_dead_letters(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    query: web::Query<DeadLetterQuery>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let mut find = dead_letters::Entity::find().filter(dead_letters::Column::OwnerId.eq(user.id));
    if let Some(workflow) = query.workflow_id {
        find = find.filter(dead_letters::Column::WorkflowId.eq(workflow));
    }
    if let Some(since) = query.since {
        find = find.filter(dead_letters::Column::CreatedAt.gte(since));
    }
    match query.replayed {
        Some(true) => find = find.filter(dead_letters::Column::ReplayedAt.is_not_null()),
        Some(false) => find = find.filter(dead_letters::Column::ReplayedAt.is_null()),
        None => {}
    }
    let total = find.clone().count(db.get_ref()).await?;
    let items = find
        .order_by_desc(dead_letters::Column::CreatedAt)
        .order_by_desc(dead_letters::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?
        .into_iter()
        .map(DeadLetterView::from)
        .collect();
    Ok(HttpResponse::Ok().json(DeadLetterList { items, total }))
}

/// One dead letter with its full context.
#[utoipa::path(get, path = "/api/v1/dead-letters/{id}", operation_id = "getDeadLetter", tag = "executions",
    responses((status = 200, body = DeadLetterView), (status = 404)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn get_dead_letter(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let letter = dead_letters::Entity::find_by_id(*id)
        .filter(dead_letters::Column::OwnerId.eq(user.id))
        .one(db.get_ref())
        .await?
        .ok_or_else(|| ApiError::not_found("dead letter"))?;
    Ok(HttpResponse::Ok().json(DeadLetterView::from(letter)))
}

/// What to replay: at least one of `ids`, `workflow_id`, `since`, or
/// `all: true` (every dead letter not replayed yet). A body that names
/// nothing replays nothing.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// These dead letters; or, without ids, every one not replayed yet that
    /// matches `workflow_id` and `since`.
    pub ids: Option<Vec<Uuid>>,
    pub workflow_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    /// `true`: every dead letter not replayed yet (narrowed by `workflow_id`
    /// and `since` when given).
    #[serde(default)]
    pub all: bool,
}

impl ReplayRequest {
    /// Reads the body: not JSON is 400, not this shape or naming nothing is 422.
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        const SAY: &str = "name what to replay: ids, workflow_id, since, or \"all\": true";
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("the body is empty: {SAY}"),
            ));
        }
        let request: Self = serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                ApiError::validation(
                    format!("invalid body: {e}"),
                    json!({"line": e.line(), "column": e.column()}),
                )
            } else {
                ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}"))
            }
        })?;
        let names_something = request.all
            || request.ids.is_some()
            || request.workflow_id.is_some()
            || request.since.is_some();
        if !names_something {
            return Err(ApiError::validation(SAY, json!({"path": "all"})));
        }
        Ok(request)
    }
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub dead_letter_id: Uuid,
    pub execution_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayAccepted {
    pub replayed: Vec<Replayed>,
    /// Dead letters that cannot be replayed: already replayed, or a job that
    /// was never an execution.
    pub skipped: Vec<Uuid>,
}

/// Most dead letters one replay call takes.
const REPLAY_BATCH: u64 = 500;

/// Replay dead letters: each failed execution is retried from its failed
/// step as a new, linked execution.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", operation_id = "replayDeadLetters", tag = "executions", request_body = ReplayRequest,
    responses((status = 202, body = ReplayAccepted), (status = 400, description = "the body is empty or not JSON"),
        (status = 422, description = "the body names nothing to replay, or has an unknown field")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn replay(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    control: web::Data<Control>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Read by hand: an `Option<Json<_>>` turned every unreadable body into
    // "no filter", which replayed everything.
    let body = ReplayRequest::parse(&body)?;
    let mut find = dead_letters::Entity::find().filter(dead_letters::Column::OwnerId.eq(user.id));
    if let Some(ids) = &body.ids {
        find = find.filter(dead_letters::Column::Id.is_in(ids.clone()));
    } else {
        find = find.filter(dead_letters::Column::ReplayedAt.is_null());
    }
    if let Some(workflow) = body.workflow_id {
        find = find.filter(dead_letters::Column::WorkflowId.eq(workflow));
    }
    if let Some(since) = body.since {
        find = find.filter(dead_letters::Column::CreatedAt.gte(since));
    }
    let letters = find
        .order_by_asc(dead_letters::Column::CreatedAt)
        .limit(REPLAY_BATCH)
        .all(db.get_ref())
        .await?;
    let mut replayed = Vec::new();
    let mut skipped = Vec::new();
    for letter in letters {
        let original = match (letter.replayed_at, letter.execution_id) {
            (None, Some(execution_id)) => {
                executions::Entity::find_by_id(execution_id)
                    .filter(executions::Column::OwnerId.eq(user.id))
                    .one(db.get_ref())
                    .await?
            }
            _ => None,
        };
        let Some(original) = original else {
            skipped.push(letter.id);
            continue;
        };
        let txn = db.begin().await?;
        // Claims the letter first, so two replays of it make one retry.
        let claimed = dead_letters::Entity::update_many()
            .col_expr(dead_letters::Column::ReplayedAt, Expr::value(Utc::now()))
            .filter(dead_letters::Column::Id.eq(letter.id))
            .filter(dead_letters::Column::ReplayedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            skipped.push(letter.id);
            continue;
        }
        let retry = retries::insert_retry(&txn, &original, true, None).await?;
        dead_letters::Entity::update_many()
            .col_expr(
                dead_letters::Column::ReplayExecutionId,
                Expr::value(Some(retry.id)),
            )
            .filter(dead_letters::Column::Id.eq(letter.id))
            .exec(&txn)
            .await?;
        crate::jobs::enqueue(&txn, &resume_job(&retry)).await?;
        txn.commit().await?;
        replayed.push(Replayed {
            dead_letter_id: letter.id,
            execution_id: retry.id,
        });
    }
    control.relay.notify();
    Ok(HttpResponse::Accepted().json(ReplayAccepted { replayed, skipped }))
}
