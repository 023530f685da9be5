//! `GET /api/v1/audit-log`: the caller's record of workflow changes.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::store::audit;

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    pub workflow_id: Option<Uuid>,
    /// e.g. `workflow.created`, `workflow.updated`, `workflow.activated`,
    /// `workflow.deactivated`, `workflow.rolled_back`, `workflow.copied`,
    /// `workflow.webhook_rotated`, `workflow.deleted`.
    pub action: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub action: String,
    pub workflow_id: Uuid,
    /// Who made the change.
    pub actor_id: Uuid,
    #[schema(value_type = Object)]
    pub details: Value,
    pub at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntry>,
    pub total: u64,
}

/// Changes to the caller's workflows, newest first.
#[utoipa::path(get, path = "/api/v1/audit-log", operation_id = "listAuditLog", tag = "workflows", params(AuditQuery, PaginationParams),
    responses((status = 200, body = AuditList)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
    query: web::Query<AuditQuery>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let mut find = audit::Entity::find().filter(audit::Column::OwnerId.eq(user.id));
    if let Some(workflow) = query.workflow_id {
        find = find.filter(audit::Column::WorkflowId.eq(workflow));
    }
    if let Some(action) = query.action.as_deref().filter(|a| !a.is_empty()) {
        find = find.filter(audit::Column::Action.eq(action));
    }
    let total = find.clone().count(db.get_ref()).await?;
    let items = find
        .order_by_desc(audit::Column::At)
        .order_by_desc(audit::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?
        .into_iter()
        .map(|e| AuditEntry {
            id: e.id,
            action: e.action,
            workflow_id: e.workflow_id,
            actor_id: e.actor_id,
            details: e.details,
            at: e.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditList { items, total }))
}
