//! The template library: list, get, and instantiate into a workflow.

use actix_web::{HttpResponse, web};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PublicUrl;
use super::workflows::{
    CompiledDefinition, GraphLimits, NewWorkflow, check_name, insert_workflow_as,
};
use crate::ownership::ChatbotDirectory;
use crate::store::{audit, templates};
use crate::templates::{Category, InstantiateError, ParamFault, ParamSpec, Template};
use crate::webhook_secrets::WebhookSecrets;

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Sales, Service, Parts, Support or Marketing (any case).
    #[param(schema_with = category_schema)]
    pub category: Option<String>,
}

/// The category filter as the enum of the categories (the route also takes them in any case).
fn category_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Category::ALL.iter().map(|c| c.as_str())))
        .description(Some(
            "Sales, Service, Parts, Support or Marketing (any case).",
        ))
        .build()
}

/// A template without its definition.
#[derive(Serialize, ToSchema)]
pub struct TemplateSummary {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub description: String,
    /// The type of the trigger that starts the workflows it makes.
    pub trigger_type: Option<String>,
    pub params: Vec<ParamSpec>,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateSummary>,
    pub total: usize,
}

/// A template with its definition, whose strings may hold `[[ param ]]`
/// placeholders (filled on instantiation) and `{{ ... }}` runtime expressions.
#[derive(Serialize, ToSchema)]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub summary: TemplateSummary,
    #[schema(value_type = Object)]
    pub flow_definition: Value,
}

#[derive(Deserialize, ToSchema)]
pub struct InstantiateTemplate {
    /// One of the caller's chatbots.
    pub chatbot_id: Uuid,
    /// Defaults to the template's name.
    pub name: Option<String>,
    /// Defaults to the template's description.
    pub description: Option<String>,
    /// `{param_name: value}`; optional parameters left out take their default.
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    pub is_active: Option<bool>,
}

fn summary(t: Template) -> (TemplateSummary, Value) {
    let trigger_type = t.trigger_type().map(str::to_string);
    (
        TemplateSummary {
            id: t.id,
            name: t.name,
            category: t.category,
            description: t.description,
            trigger_type,
            params: t.params,
        },
        t.flow_definition,
    )
}

/// The template library, optionally of one category.
#[utoipa::path(get, path = "/api/v1/templates", operation_id = "listTemplates", tag = "templates", params(ListQuery),
    responses((status = 200, body = TemplateList), (status = 422, description = "unknown category")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, user, query), fields(user_id = %user.id))]
pub async fn list(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let category = match query.category.as_deref().map(str::trim) {
        None => None,
        Some(name) => Some(Category::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            ApiError::validation(
                format!("unknown category '{name}'; one of {}", known.join(", ")),
                json!({"path": "category"}),
            )
        })?),
    };
    let items: Vec<TemplateSummary> = templates::list(db.get_ref(), category)
        .await?
        .into_iter()
        .map(|t| summary(t).0)
        .collect();
    Ok(HttpResponse::Ok().json(TemplateList {
        total: items.len(),
        items,
    }))
}

/// One template with its parameters and definition.
#[utoipa::path(get, path = "/api/v1/templates/{id}", operation_id = "getTemplate", params(("id" = String, Path, max_length = 100, pattern = "^[a-z0-9-]+$", example = "lead-capture-crm", description = "the template's id, a slug")), tag = "templates",
    responses((status = 200, body = TemplateDetail), (status = 404, description = "no such template")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn get(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let template = templates::find(db.get_ref(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    let (summary, flow_definition) = summary(template);
    Ok(HttpResponse::Ok().json(TemplateDetail {
        summary,
        flow_definition,
    }))
}

/// Create a workflow from a template for one of the caller's chatbots, with
/// the parameters substituted (the answer of `POST /api/v1/workflows`).
#[utoipa::path(post, path = "/api/v1/templates/{id}/instantiate", operation_id = "instantiateTemplate", params(("id" = String, Path, max_length = 100, pattern = "^[a-z0-9-]+$", example = "lead-capture-crm", description = "the template's id, a slug")), tag = "templates",
    request_body = InstantiateTemplate,
    responses((status = 201, body = super::workflows::WorkflowResponse),
              (status = 404, description = "no such template, or not the caller's chatbot"),
              (status = 422, description = "VALIDATION_ERROR: a missing, unknown or wrongly typed parameter (details.path `params.<name>`); INVALID_WORKFLOW: the values make an invalid workflow")),
    security(("bearer" = [])))]
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip(db, public, chatbots, limits, secrets, user, body), fields(user_id = %user.id))]
pub async fn instantiate(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    chatbots: web::Data<ChatbotDirectory>,
    limits: web::Data<GraphLimits>,
    secrets: web::Data<WebhookSecrets>,
    user: AuthUser,
    id: web::Path<String>,
    body: web::Json<InstantiateTemplate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let template = templates::find(db.get_ref(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("template"))?;
    let name = check_name(body.name.as_deref().unwrap_or(&template.name))?;
    let given = match body.params {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(given)) => given,
        Some(_) => {
            return Err(ApiError::validation(
                "params must be an object of parameter values",
                json!({"path": "params"}),
            ));
        }
    };
    let definition = template.instantiate(&given).map_err(|e| match e {
        InstantiateError::Params(faults) => invalid_params(&faults),
        InstantiateError::Template(broken) => {
            ApiError::internal(anyhow::anyhow!("template {}: {broken}", template.id))
        }
    })?;
    let mut compiled = CompiledDefinition::compile(definition.clone(), **limits).await?;
    secrets.seal_given(&mut compiled, None)?;
    chatbots.check_owned(body.chatbot_id, user.id).await?;
    chatbots.check_connections(&definition, user.id).await?;
    let new = NewWorkflow {
        owner_id: user.id,
        chatbot_id: body.chatbot_id,
        name,
        description: Some(body.description.unwrap_or(template.description)),
        is_active: body.is_active.unwrap_or(true),
    };
    let details = json!({"template_id": template.id});
    insert_workflow_as(
        db.get_ref(),
        new,
        &compiled,
        &public,
        audit::CREATED,
        details,
    )
    .await
}

/// 422 naming the first refused parameter, with every fault in `details`.
fn invalid_params(faults: &[ParamFault]) -> ApiError {
    let (path, message) = faults
        .first()
        .map(|f| (f.path.as_str(), f.message.as_str()))
        .unwrap_or(("params", "invalid"));
    ApiError::validation(
        format!("invalid parameter {path}: {message}"),
        json!({"path": path, "faults": faults}),
    )
}
