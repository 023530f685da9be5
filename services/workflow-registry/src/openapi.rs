//! The registry's OpenAPI document (merged by the gateway).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::routes::{audit, events, execute, node_types, templates, versions, webhooks, workflows};
use crate::templates::{Category, ParamSpec, ParamType};

#[derive(OpenApi)]
#[openapi(
    paths(workflows::create, workflows::list, workflows::get, workflows::update, workflows::delete,
          execute::execute, webhooks::receive, node_types::list,
          versions::list, versions::get, versions::rollback, versions::copy, versions::diff,
          versions::rotate_webhook, audit::list,
          templates::list, templates::get, templates::instantiate, events::publish),
    components(schemas(workflows::CreateWorkflow, workflows::UpdateWorkflow, workflows::WorkflowResponse,
                       workflows::WorkflowList, execute::ExecuteRequest, execute::Accepted,
                       versions::VersionSummary, versions::VersionList, versions::VersionDetail,
                       versions::RollbackRequest, versions::CopyRequest, versions::Changes, versions::VersionDiff,
                       audit::AuditEntry, audit::AuditList,
                       templates::TemplateSummary, templates::TemplateList, templates::TemplateDetail,
                       templates::InstantiateTemplate, ParamSpec, ParamType, Category,
                       events::EventAccepted)),
    tags((name = "workflows", description = "workflows, versions, webhooks and the node catalogue"),
         (name = "templates", description = "the template library, instantiated into workflows"),
         (name = "events", description = "CloudEvents sent over HTTP, as on the bus"))
)]
pub struct RegistryDoc;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(RegistryDoc::openapi())
}
