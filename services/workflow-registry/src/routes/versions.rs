//! A workflow's version history, one version, rollback, and copies.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_domain::NodeKind;
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::PublicUrl;
use super::workflows::{
    CompiledDefinition, GraphLimits, NewWorkflow, check_name, commit_new_version_as,
    insert_workflow_as, respond,
};
use crate::ownership::ChatbotDirectory;
use crate::store::{audit, versions, workflows};

#[derive(Serialize, ToSchema)]
pub struct VersionSummary {
    pub version: i32,
    pub created_at: chrono::DateTime<Utc>,
    pub is_current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub items: Vec<VersionSummary>,
    pub total: usize,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDetail {
    pub workflow_id: Uuid,
    pub version: i32,
    pub is_current: bool,
    #[schema(value_type = Object)]
    pub flow_definition: Value,
    pub created_at: chrono::DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
pub struct RollbackRequest {
    /// The version whose graph becomes the new current version.
    pub version: i32,
}

#[derive(Deserialize, ToSchema)]
pub struct CopyRequest {
    /// The caller's chatbot that gets the copy.
    pub chatbot_id: Uuid,
    /// Defaults to "<name> (copy)".
    pub name: Option<String>,
}

async fn owned(
    db: &DatabaseConnection,
    id: Uuid,
    user: &AuthUser,
) -> Result<workflows::Model, ApiError> {
    workflows::find_owned(db, id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))
}

/// Every version of the workflow, newest first.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions", operation_id = "listWorkflowVersions", tag = "workflows",
    responses((status = 200, body = VersionList), (status = 404, description = "not found")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn list(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let wf = owned(&db, *id, &user).await?;
    let rows: Vec<(i32, chrono::DateTime<Utc>)> = versions::Entity::find()
        .select_only()
        .column(versions::Column::Version)
        .column(versions::Column::CreatedAt)
        .filter(versions::Column::WorkflowId.eq(wf.id))
        .order_by_desc(versions::Column::Version)
        .into_tuple()
        .all(db.get_ref())
        .await?;
    let items: Vec<VersionSummary> = rows
        .into_iter()
        .map(|(version, created_at)| VersionSummary {
            version,
            created_at,
            is_current: version == wf.current_version,
        })
        .collect();
    Ok(HttpResponse::Ok().json(VersionList {
        total: items.len(),
        items,
    }))
}

/// One version's graph.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions/{version}", operation_id = "getWorkflowVersion", tag = "workflows",
    responses((status = 200, body = VersionDetail), (status = 404, description = "not found")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn get(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    path: web::Path<(Uuid, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let wf = owned(&db, id, &user).await?;
    let found = versions::find(db.get_ref(), wf.id, version)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    Ok(HttpResponse::Ok().json(VersionDetail {
        workflow_id: wf.id,
        version: found.version,
        is_current: found.version == wf.current_version,
        flow_definition: crate::webhook_secrets::redact(found.definition),
        created_at: found.created_at,
    }))
}

/// Roll back: a new version whose graph is that of an earlier one.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/rollback", operation_id = "rollbackWorkflow", tag = "workflows", request_body = RollbackRequest,
    responses((status = 200, body = super::workflows::WorkflowResponse), (status = 404, description = "no such workflow or version"),
              (status = 422, description = "that version no longer validates")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, public, limits, user, body), fields(user_id = %user.id))]
pub async fn rollback(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    limits: web::Data<GraphLimits>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<RollbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let txn = db.begin().await?;
    let wf = workflows::find_owned(&txn, *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let old = versions::find(&txn, wf.id, body.version)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    // Validated again: the catalogue may have changed since that version.
    let compiled = CompiledDefinition::compile(old.definition.clone(), **limits).await?;
    let active: workflows::ActiveModel = wf.clone().into();
    let details = json!({"restored_version": old.version});
    commit_new_version_as(
        txn,
        &wf,
        active,
        &compiled,
        &public,
        audit::ROLLED_BACK,
        details,
    )
    .await
}

/// Copy the workflow's current version into a new workflow (version 1, its
/// own webhook token) for one of the caller's chatbots.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/copy", operation_id = "copyWorkflow", tag = "workflows", request_body = CopyRequest,
    responses((status = 201, body = super::workflows::WorkflowResponse), (status = 404, description = "not found")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, public, user, body, chatbots, limits), fields(user_id = %user.id))]
pub async fn copy(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    chatbots: web::Data<ChatbotDirectory>,
    limits: web::Data<GraphLimits>,
    user: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<CopyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let wf = owned(&db, *id, &user).await?;
    chatbots.check_owned(body.chatbot_id, user.id).await?;
    let name = match body.name.as_deref() {
        Some(name) => check_name(name)?,
        None => check_name(&format!("{} (copy)", wf.name)).or_else(|_| check_name(&wf.name))?,
    };
    let current = versions::find(db.get_ref(), wf.id, wf.current_version)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("workflow {} has no current version", wf.id))
        })?;
    let compiled = CompiledDefinition::compile(current.definition, **limits).await?;
    let new = NewWorkflow {
        owner_id: user.id,
        chatbot_id: body.chatbot_id,
        name,
        description: wf.description.clone(),
        // A copy is as active as its original.
        is_active: wf.is_active,
    };
    let details = json!({"copied_from": wf.id, "copied_version": wf.current_version});
    insert_workflow_as(
        db.get_ref(),
        new,
        &compiled,
        &public,
        audit::COPIED,
        details,
    )
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DiffQuery {
    pub from: i32,
    pub to: i32,
}

/// What changed between two versions, by node and edge id.
#[derive(Serialize, ToSchema, Default, Debug, PartialEq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Type, label, config (nodes) or endpoints and handle (edges) differ.
    pub changed: Vec<String>,
    /// Nodes whose only difference is their position on the canvas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDiff {
    pub from: i32,
    pub to: i32,
    pub nodes: Changes,
    pub edges: Changes,
}

/// Items of a graph list by id.
fn by_id(definition: &Value, list: &str) -> std::collections::BTreeMap<String, Value> {
    definition[list]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item["id"].as_str().map(|id| (id.to_string(), item.clone())))
        .collect()
}

/// Compares one list (`nodes` or `edges`) of two graphs; `ignore` names
/// fields whose only difference counts as a move, not a change.
fn compare(before: &Value, after: &Value, list: &str, ignore: &str) -> Changes {
    let (old, new) = (by_id(before, list), by_id(after, list));
    let mut changes = Changes::default();
    for (id, item) in &new {
        match old.get(id) {
            None => changes.added.push(id.clone()),
            Some(previous) if previous == item => {}
            Some(previous) => {
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    if let Some(map) = v.as_object_mut() {
                        map.remove(ignore);
                    }
                    v
                };
                if strip(previous) == strip(item) {
                    changes.moved.push(id.clone());
                } else {
                    changes.changed.push(id.clone());
                }
            }
        }
    }
    changes.removed = old
        .keys()
        .filter(|id| !new.contains_key(*id))
        .cloned()
        .collect();
    changes
}

/// Which nodes and edges were added, removed or changed from `from` to `to`.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/diff", operation_id = "diffWorkflowVersions", tag = "workflows", params(DiffQuery),
    responses((status = 200, body = VersionDiff), (status = 404, description = "no such workflow or version")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, user, query), fields(user_id = %user.id))]
pub async fn diff(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    id: web::Path<Uuid>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    let wf = owned(&db, *id, &user).await?;
    let load = |version: i32| {
        let db = db.clone();
        async move {
            versions::find(db.get_ref(), wf.id, version)
                .await?
                .ok_or_else(|| ApiError::not_found(&format!("version {version}")))
        }
    };
    let before = load(query.from).await?;
    let after = load(query.to).await?;
    Ok(HttpResponse::Ok().json(VersionDiff {
        from: before.version,
        to: after.version,
        nodes: compare(&before.definition, &after.definition, "nodes", "position"),
        edges: compare(&before.definition, &after.definition, "edges", ""),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compare_sorts_nodes_into_added_removed_changed_and_moved() {
        let before = json!({"nodes": [
            {"id": "a", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {"values": {"v": 1}}}},
            {"id": "b", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {}}},
            {"id": "c", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {}}},
            {"id": "d", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {}}}
        ]});
        let after = json!({"nodes": [
            {"id": "a", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {"values": {"v": 2}}}},
            {"id": "b", "type": "action.set", "position": {"x": 9, "y": 9}, "data": {"config": {}}},
            {"id": "c", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {}}},
            {"id": "e", "type": "action.set", "position": {"x": 0, "y": 0}, "data": {"config": {}}}
        ]});
        let changes = compare(&before, &after, "nodes", "position");
        assert_eq!(changes.added, ["e"]);
        assert_eq!(changes.removed, ["d"]);
        assert_eq!(changes.changed, ["a"]);
        assert_eq!(changes.moved, ["b"]);
    }
}

/// Rotate the webhook token: the old URL stops working at once.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/webhook/rotate", operation_id = "rotateWebhookToken", tag = "workflows",
    responses((status = 200, body = super::workflows::WorkflowResponse), (status = 404, description = "not found"),
              (status = 409, description = "the workflow has no webhook trigger")),
    security(("bearer" = [])))]
#[tracing::instrument(skip(db, public, user), fields(user_id = %user.id))]
pub async fn rotate_webhook(
    db: web::Data<DatabaseConnection>,
    public: web::Data<PublicUrl>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    use crate::store::webhooks;
    let txn = db.begin().await?;
    let wf = workflows::find_owned(&txn, *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let Some(hook) = webhooks::for_workflow(&txn, wf.id).await? else {
        return Err(ApiError::new(
            echoflow_service_kit::ErrorCode::Conflict,
            "this workflow has no webhook trigger",
        ));
    };
    webhooks::Entity::delete_by_id(hook.token)
        .exec(&txn)
        .await?;
    let token = webhooks::issue(&txn, wf.id).await?;
    audit::record(
        &txn,
        wf.owner_id,
        user.id,
        audit::WEBHOOK_ROTATED,
        wf.id,
        json!({}),
    )
    .await?;
    let current = versions::find(&txn, wf.id, wf.current_version)
        .await?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("workflow {} has no current version", wf.id))
        })?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(respond(
        &wf,
        NodeKind::TriggerWebhook.to_string(),
        Some(&token),
        &public,
        Some(current.definition),
    )))
}
