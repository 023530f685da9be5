//! Manual runs: `POST /api/v1/workflows/{id}/execute`.

use actix_web::{HttpResponse, web};
use echoflow_contracts::EventType;
use echoflow_service_kit::{ApiError, AuthUser, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::jobs::{JobSubmitter, local_event};
use crate::store::{versions, workflows};

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Becomes the trigger's data.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub execution_id: Uuid,
    /// True when this webhook delivery repeats one already accepted: the
    /// execution is the one the first delivery started, and nothing new runs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Accepted {
    pub fn new(execution_id: Uuid) -> Self {
        Self {
            execution_id,
            duplicate: false,
        }
    }
}

/// The request of a manual run. An empty body is a run without input; any
/// other body must be an [`ExecuteRequest`] in JSON: a body that does not
/// parse starts nothing (it used to run with no input).
fn execute_request(body: &[u8]) -> Result<ExecuteRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ExecuteRequest::default());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::validation(
            "the body must be a JSON object: {\"input\": ...}",
            json!({"path": ""}),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::validation(format!("invalid body: {e}"), json!({"path": ""})))
}

/// Run the workflow's current version now, with `input` as the trigger data.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/execute", operation_id = "executeWorkflow", tag = "workflows", request_body = ExecuteRequest,
    responses((status = 202, body = Accepted), (status = 400, description = "the body is not JSON"),
              (status = 404, description = "not found"), (status = 422, description = "the body is not {input?}")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(jobs, user, body), fields(user_id = %user.id))]
pub async fn execute(
    jobs: web::Data<JobSubmitter>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(super::body_error)?;
    let input = execute_request(&body)?.input.unwrap_or(Value::Null);
    let wf = workflows::find_owned(&jobs.db, *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let version = versions::find_plan(&jobs.db, wf.id, wf.current_version)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no current version")))?;
    let event = local_event(
        EventType::ManualTriggered,
        format!("/workflows/{}", wf.id),
        &wf,
    )
    .data(input)
    .build();
    let execution_id = jobs.submit(&wf, &version, event).await?;
    Ok(HttpResponse::Accepted().json(Accepted::new(execution_id)))
}
