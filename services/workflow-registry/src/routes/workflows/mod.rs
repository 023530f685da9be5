//! Create, read, list, update (a new version) and delete workflows.

pub mod definition;
mod response;
mod saving;

use actix_web::{HttpResponse, web};
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PublicUrl;
use crate::ownership::ChatbotDirectory;
use crate::store::{audit, triggers, versions, webhooks, workflows};
use crate::webhook_secrets::WebhookSecrets;

pub use definition::{CompiledDefinition, GraphLimits};
pub use response::WorkflowResponse;
pub(crate) use response::respond;
pub(crate) use saving::{
    NewWorkflow, commit_new_version, commit_new_version_as, insert_workflow, insert_workflow_as,
};

/// A struct body that must be given as a JSON object. serde also reads a struct from a
/// JSON array of its fields in order (`["new name"]` renamed a workflow), which no client
/// means: an array is refused like any other body of the wrong shape (422).
pub struct ObjectBody<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for ObjectBody<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        T::deserialize(Value::Object(object))
            .map(ObjectBody)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateWorkflow {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub description: Option<String>,
    pub chatbot_id: Uuid,
    /// A React Flow graph: `{nodes: [...], edges: [...]}`.
    #[schema(value_type = Object)]
    pub flow_definition: Value,
    pub is_active: Option<bool>,
}

/// Every field is optional, but at least one must be given; an unknown one is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkflow {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub description: Option<String>,
    pub chatbot_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub flow_definition: Option<Value>,
    pub is_active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowList {
    pub items: Vec<WorkflowResponse>,
    pub total: u64,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    pub chatbot_id: Option<Uuid>,
    pub is_active: Option<bool>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
}

pub(crate) fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::validation(
            "name must be 1 to 200 characters",
            json!({"path": "name"}),
        ));
    }
    Ok(name.to_string())
}

/// Create a workflow (version 1).
#[utoipa::path(post, path = "/api/v1/workflows", operation_id = "createWorkflow", tag = "workflows", request_body = CreateWorkflow,
    responses((status = 201, body = WorkflowResponse), (status = 422, description = "invalid graph, with the path of the fault")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, public, body, user, chatbots, limits, secrets), fields(user_id = %user.id))]
pub async fn create(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    chatbots: web::Data<ChatbotDirectory>,
    limits: web::Data<GraphLimits>,
    secrets: web::Data<WebhookSecrets>,
    user: AuthUser,
    body: web::Json<ObjectBody<CreateWorkflow>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner().0;
    let name = check_name(&body.name)?;
    let mut compiled = CompiledDefinition::compile(body.flow_definition.clone(), **limits).await?;
    secrets.seal_given(&mut compiled, None)?;
    chatbots.check_owned(body.chatbot_id, user.id).await?;
    chatbots
        .check_connections(&body.flow_definition, user.id)
        .await?;
    let new = NewWorkflow {
        owner_id: user.id,
        chatbot_id: body.chatbot_id,
        name,
        description: body.description,
        is_active: body.is_active.unwrap_or(true),
    };
    insert_workflow(db.get_ref(), new, &compiled, &public).await
}

/// One workflow with its current definition.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", operation_id = "getWorkflow", tag = "workflows",
    responses((status = 200, body = WorkflowResponse), (status = 404, description = "not found")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, public, user), fields(user_id = %user.id))]
pub async fn get(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let wf = workflows::find_owned(db.get_ref(), *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let version = versions::find(db.get_ref(), wf.id, wf.current_version)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("workflow {} has no current version", wf.id))
        })?;
    let trigger = triggers::Entity::find_by_id(wf.id)
        .one(db.get_ref())
        .await?;
    let hook = webhooks::for_workflow(db.get_ref(), wf.id).await?;
    Ok(HttpResponse::Ok().json(respond(
        &wf,
        trigger.map(|t| t.trigger_type).unwrap_or_default(),
        hook.as_ref().map(|h| h.token.as_str()),
        &public,
        Some(version.definition),
    )))
}

/// The caller's workflows, newest first.
#[utoipa::path(get, path = "/api/v1/workflows", operation_id = "listWorkflows", tag = "workflows", params(ListQuery, PaginationParams),
    responses((status = 200, body = WorkflowList)), security(("bearer" = [])))]
#[tracing::instrument(skip(db, public, user, query), fields(user_id = %user.id))]
pub async fn list(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    user: AuthUser,
    query: web::Query<ListQuery>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let mut select = workflows::Entity::find().filter(workflows::Column::OwnerId.eq(user.id));
    if let Some(chatbot) = query.chatbot_id {
        select = select.filter(workflows::Column::ChatbotId.eq(chatbot));
    }
    if let Some(active) = query.is_active {
        select = select.filter(workflows::Column::IsActive.eq(active));
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        use sea_orm::sea_query::{Expr, ExprTrait, Func};
        // LIKE wildcards in the search are matched literally.
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        select = select.filter(
            Expr::expr(Func::lower(Expr::col(workflows::Column::Name)))
                .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    let total = select.clone().count(db.get_ref()).await?;
    let page = select
        .order_by_desc(workflows::Column::CreatedAt)
        .order_by_desc(workflows::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?;
    let ids: Vec<Uuid> = page.iter().map(|w| w.id).collect();
    let trigger_rows = triggers::Entity::find()
        .filter(triggers::Column::WorkflowId.is_in(ids.clone()))
        .all(db.get_ref())
        .await?;
    let hook_rows = webhooks::Entity::find()
        .filter(webhooks::Column::WorkflowId.is_in(ids))
        .all(db.get_ref())
        .await?;
    let items = page
        .iter()
        .map(|wf| {
            let trigger = trigger_rows
                .iter()
                .find(|t| t.workflow_id == wf.id)
                .map(|t| t.trigger_type.clone())
                .unwrap_or_default();
            let token = hook_rows
                .iter()
                .find(|h| h.workflow_id == wf.id)
                .map(|h| h.token.as_str());
            respond(wf, trigger, token, &public, None)
        })
        .collect();
    Ok(HttpResponse::Ok().json(WorkflowList { items, total }))
}

/// Update a workflow: every save is a new immutable version.
#[utoipa::path(put, path = "/api/v1/workflows/{id}", operation_id = "updateWorkflow", tag = "workflows", request_body = UpdateWorkflow,
    responses((status = 200, body = WorkflowResponse), (status = 404, description = "not found"), (status = 422, description = "invalid graph")),
    security(("bearer" = [])))]
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip(db, public, user, body, chatbots, limits, secrets), fields(user_id = %user.id))]
pub async fn update(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    chatbots: web::Data<ChatbotDirectory>,
    limits: web::Data<GraphLimits>,
    secrets: web::Data<WebhookSecrets>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ObjectBody<UpdateWorkflow>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner().0;
    if body.name.is_none()
        && body.description.is_none()
        && body.chatbot_id.is_none()
        && body.flow_definition.is_none()
        && body.is_active.is_none()
    {
        return Err(ApiError::validation(
            "nothing to update: give at least one of name, description, chatbot_id, flow_definition, is_active",
            json!({"path": ""}),
        ));
    }
    let name = body.name.as_deref().map(check_name).transpose()?;
    if let Some(chatbot) = body.chatbot_id {
        chatbots.check_owned(chatbot, user.id).await?;
    }
    // A new graph is checked (shape, then connections) before the transaction.
    let given = match &body.flow_definition {
        Some(raw) => {
            let compiled = CompiledDefinition::compile(raw.clone(), **limits).await?;
            chatbots.check_connections(raw, user.id).await?;
            Some(compiled)
        }
        None => None,
    };
    let txn = db.begin().await?;
    let wf = workflows::find_owned(&txn, *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let current = versions::find(&txn, wf.id, wf.current_version)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no current version")))?;
    let compiled = match given {
        Some(mut compiled) => {
            secrets.seal_given(&mut compiled, Some(&current.plan))?;
            compiled
        }
        None => CompiledDefinition::compile(current.definition, **limits).await?,
    };
    let mut active: workflows::ActiveModel = wf.clone().into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if body.description.is_some() {
        active.description = Set(body.description);
    }
    if let Some(chatbot) = body.chatbot_id {
        active.chatbot_id = Set(chatbot);
    }
    if let Some(is_active) = body.is_active {
        active.is_active = Set(is_active);
    }
    commit_new_version(txn, &wf, active, &compiled, &public).await
}

/// Delete a workflow, its versions and its webhook. Its executions stay.
#[utoipa::path(delete, path = "/api/v1/workflows/{id}", operation_id = "deleteWorkflow", tag = "workflows",
    responses((status = 204, description = "deleted"), (status = 404, description = "not found")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn delete(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let txn = db.begin().await?;
    let wf = workflows::find_owned(&txn, *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    crate::lifecycle::delete_workflow(&txn, &wf).await?;
    let details =
        json!({"name": wf.name, "chatbot_id": wf.chatbot_id, "version": wf.current_version});
    audit::record(&txn, wf.owner_id, user.id, audit::DELETED, wf.id, details).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
