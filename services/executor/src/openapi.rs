//! The executor's OpenAPI document (merged by the gateway).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::routes::executions;

#[derive(OpenApi)]
#[openapi(
    paths(executions::list, executions::get),
    components(schemas(executions::ExecutionSummary, executions::ExecutionList, executions::StepView, executions::ExecutionDetail)),
    tags((name = "executions", description = "runs of workflows and their steps"))
)]
pub struct ExecutorDoc;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ExecutorDoc::openapi())
}
