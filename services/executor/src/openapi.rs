//! The executor's OpenAPI document (merged by the gateway).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::routes::{control, executions};

#[derive(OpenApi)]
#[openapi(
    paths(executions::list, executions::get, control::cancel, control::retry,
          control::list_dead_letters, control::get_dead_letter, control::replay),
    components(schemas(executions::ExecutionSummary, executions::ExecutionList, executions::StepView, executions::ExecutionDetail,
                       control::Cancelled, control::RetryFrom, control::RetryRequest, control::RetryAccepted,
                       control::DeadLetterView, control::DeadLetterList, control::ReplayRequest,
                       control::Replayed, control::ReplayAccepted)),
    tags((name = "executions", description = "runs of workflows and their steps"))
)]
pub struct ExecutorDoc;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ExecutorDoc::openapi())
}
