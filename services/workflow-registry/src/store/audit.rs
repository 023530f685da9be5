//! The audit log of workflow changes: who created, changed, activated,
//! rolled back, copied, rotated or deleted what, readable by the owner.

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub actor_id: Uuid,
    pub action: String,
    pub workflow_id: Uuid,
    pub details: Json,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const CREATED: &str = "workflow.created";
pub const UPDATED: &str = "workflow.updated";
pub const ACTIVATED: &str = "workflow.activated";
pub const DEACTIVATED: &str = "workflow.deactivated";
pub const ROLLED_BACK: &str = "workflow.rolled_back";
pub const COPIED: &str = "workflow.copied";
pub const WEBHOOK_ROTATED: &str = "workflow.webhook_rotated";
pub const DELETED: &str = "workflow.deleted";
/// A chatbot was deleted and its workflows with it (`workflow_id` is the chatbot's id).
pub const CHATBOT_DELETED: &str = "chatbot.deleted";
/// An end user's data on a chatbot was erased (`workflow_id` is the chatbot's id).
pub const END_USER_ERASED: &str = "chatbot.end_user_erased";

/// One entry, written in the transaction of the change it records.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    owner_id: Uuid,
    actor_id: Uuid,
    action: &str,
    workflow_id: Uuid,
    details: Value,
) -> Result<(), DbErr> {
    Entity::insert(ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(owner_id),
        actor_id: Set(actor_id),
        action: Set(action.to_string()),
        workflow_id: Set(workflow_id),
        details: Set(details),
        at: Set(chrono::Utc::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
