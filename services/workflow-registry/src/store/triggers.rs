//! The trigger index: what starts each workflow, for matching events. The
//! event type a trigger is kept under is its [`TriggerSpec::event_type`].

use echoflow_domain::{NodeKind, TriggerSpec};
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "triggers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: Uuid,
    pub owner_id: Uuid,
    pub chatbot_id: Uuid,
    pub trigger_type: String,
    pub event_type: Option<String>,
    pub version: i32,
    pub is_active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Active triggers listening for `event_type`, narrowed to the event's
/// chatbot and user when the event names them. An event that names no
/// chatbot starts no conversation trigger. Ordered by workflow, so that
/// concurrent consumers take the debounce rows in one order.
pub async fn matching<C: ConnectionTrait>(
    db: &C,
    event_type: &str,
    chatbot_id: Option<Uuid>,
    owner_id: Option<Uuid>,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::EventType.eq(event_type))
        .filter(Column::IsActive.eq(true));
    match chatbot_id {
        Some(chatbot) => query = query.filter(Column::ChatbotId.eq(chatbot)),
        None => {
            query = query.filter(
                Column::TriggerType
                    .is_not_in(TriggerSpec::CONVERSATION_KINDS.map(NodeKind::as_str)),
            )
        }
    }
    if let Some(owner) = owner_id {
        query = query.filter(Column::OwnerId.eq(owner));
    }
    query.order_by_asc(Column::WorkflowId).all(db).await
}
