//! Internal API (service token only).

use actix_web::{HttpResponse, web};
use echoflow_contracts::ExecutionJob;
use echoflow_service_kit::{ApiError, InternalCaller};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::store::executions::{self, JobIds};

/// `POST /internal/executions`: the registry announces a job it queued, so
/// the execution is visible as `queued` before a worker picks it up.
#[tracing::instrument(skip_all)]
pub async fn announce(
    _caller: InternalCaller,
    db: web::Data<DatabaseConnection>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let job = ExecutionJob::decode_bytes(&body)
        .map_err(|e| ApiError::validation(e.to_string(), json!({})))?;
    let ids = JobIds::parse(&job).map_err(|e| ApiError::validation(e, json!({})))?;
    executions::insert_queued(db.get_ref(), &job, &ids).await?;
    Ok(HttpResponse::Accepted().json(json!({"execution_id": ids.execution_id})))
}
