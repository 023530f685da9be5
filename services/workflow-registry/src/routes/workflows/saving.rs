//! Saving a version: a new workflow (version 1) or the next version of one, with its
//! trigger index, schedule and webhook, recorded in the audit log.

use actix_web::HttpResponse;
use chrono::Utc;
use echoflow_domain::NodeKind;
use echoflow_service_kit::ApiError;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Set, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::definition::CompiledDefinition;
use super::response::{WorkflowResponse, respond};
use crate::routes::PublicUrl;
use crate::store::{audit, schedules, triggers, versions, webhooks, workflows};

/// Saves version `version` of the workflow with its trigger index and webhook.
pub(crate) async fn save_version<C: sea_orm::ConnectionTrait>(
    txn: &C,
    wf: &workflows::Model,
    compiled: &CompiledDefinition,
) -> Result<Option<String>, ApiError> {
    let now = Utc::now();
    versions::ActiveModel {
        workflow_id: Set(wf.id),
        version: Set(wf.current_version),
        definition: Set(serde_json::to_value(&compiled.definition).map_err(ApiError::internal)?),
        plan: Set(serde_json::to_value(&compiled.plan).map_err(ApiError::internal)?),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    let (trigger_type, event_type) = compiled.trigger_index();
    triggers::Entity::delete_by_id(wf.id).exec(txn).await?;
    triggers::ActiveModel {
        workflow_id: Set(wf.id),
        owner_id: Set(wf.owner_id),
        chatbot_id: Set(wf.chatbot_id),
        trigger_type: Set(trigger_type.to_string()),
        event_type: Set(event_type),
        version: Set(wf.current_version),
        is_active: Set(wf.is_active),
    }
    .insert(txn)
    .await?;
    schedules::sync(txn, wf, &compiled.plan).await?;
    let existing = webhooks::for_workflow(txn, wf.id).await?;
    if trigger_type == NodeKind::TriggerWebhook {
        if let Some(hook) = existing {
            return Ok(Some(hook.token));
        }
        Ok(Some(webhooks::issue(txn, wf.id).await?))
    } else {
        if existing.is_some() {
            webhooks::Entity::delete_many()
                .filter(webhooks::Column::WorkflowId.eq(wf.id))
                .exec(txn)
                .await?;
        }
        Ok(None)
    }
}

/// A workflow about to be created (version 1).
pub(crate) struct NewWorkflow {
    pub owner_id: Uuid,
    pub chatbot_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
}

/// Creates the workflow with `compiled` as version 1; answers 201.
pub(crate) async fn insert_workflow(
    db: &DatabaseConnection,
    new: NewWorkflow,
    compiled: &CompiledDefinition,
    public: &PublicUrl,
) -> Result<HttpResponse, ApiError> {
    insert_workflow_as(db, new, compiled, public, audit::CREATED, json!({})).await
}

/// [`insert_workflow`], recorded in the audit log as `action` with `details`.
pub(crate) async fn insert_workflow_as(
    db: &DatabaseConnection,
    new: NewWorkflow,
    compiled: &CompiledDefinition,
    public: &PublicUrl,
    action: &str,
    details: Value,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let wf = workflows::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(new.owner_id),
        chatbot_id: Set(new.chatbot_id),
        name: Set(new.name),
        description: Set(new.description),
        is_active: Set(new.is_active),
        current_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let token = save_version(&txn, &wf, compiled).await?;
    let mut details = details;
    details["name"] = json!(wf.name);
    details["chatbot_id"] = json!(wf.chatbot_id);
    details["version"] = json!(wf.current_version);
    details["is_active"] = json!(wf.is_active);
    audit::record(&txn, wf.owner_id, wf.owner_id, action, wf.id, details).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(respond_saved(&wf, compiled, token, public)?))
}

/// Makes `compiled` the workflow's next version (with the other changes in
/// `active`), commits `txn`, and answers with the workflow.
pub(crate) async fn commit_new_version(
    txn: DatabaseTransaction,
    wf: &workflows::Model,
    active: workflows::ActiveModel,
    compiled: &CompiledDefinition,
    public: &PublicUrl,
) -> Result<HttpResponse, ApiError> {
    commit_new_version_as(txn, wf, active, compiled, public, audit::UPDATED, json!({})).await
}

/// [`commit_new_version`], recorded in the audit log as `action` with
/// `details`; a change of `is_active` is recorded as well.
pub(crate) async fn commit_new_version_as(
    txn: DatabaseTransaction,
    wf: &workflows::Model,
    mut active: workflows::ActiveModel,
    compiled: &CompiledDefinition,
    public: &PublicUrl,
    action: &str,
    details: Value,
) -> Result<HttpResponse, ApiError> {
    let before = wf.clone();
    active.current_version = Set(wf.current_version + 1);
    active.updated_at = Set(Utc::now());
    let wf = active.update(&txn).await?;
    let token = save_version(&txn, &wf, compiled).await?;
    let mut details = details;
    details["from_version"] = json!(before.current_version);
    details["version"] = json!(wf.current_version);
    for (field, old, new) in [
        ("name", json!(before.name), json!(wf.name)),
        ("chatbot_id", json!(before.chatbot_id), json!(wf.chatbot_id)),
        (
            "description",
            json!(before.description),
            json!(wf.description),
        ),
    ] {
        if old != new {
            details["changed"][field] = json!({"from": old, "to": new});
        }
    }
    audit::record(&txn, wf.owner_id, wf.owner_id, action, wf.id, details).await?;
    if before.is_active != wf.is_active {
        let toggled = if wf.is_active {
            audit::ACTIVATED
        } else {
            audit::DEACTIVATED
        };
        let version = json!({"version": wf.current_version});
        audit::record(&txn, wf.owner_id, wf.owner_id, toggled, wf.id, version).await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(respond_saved(&wf, compiled, token, public)?))
}

/// The answer for a workflow whose current version is `compiled`.
fn respond_saved(
    wf: &workflows::Model,
    compiled: &CompiledDefinition,
    token: Option<String>,
    public: &PublicUrl,
) -> Result<WorkflowResponse, ApiError> {
    let definition = serde_json::to_value(&compiled.definition).map_err(ApiError::internal)?;
    Ok(respond(
        wf,
        compiled.plan.trigger.node_type.to_string(),
        token.as_deref(),
        public,
        Some(definition),
    ))
}
