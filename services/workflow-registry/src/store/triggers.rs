//! The trigger index: what starts each workflow, for matching events.

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
/// chatbot and user when the event names them.
pub async fn matching<C: ConnectionTrait>(
    db: &C,
    event_type: &str,
    chatbot_id: Option<Uuid>,
    owner_id: Option<Uuid>,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::EventType.eq(event_type))
        .filter(Column::IsActive.eq(true));
    if let Some(chatbot) = chatbot_id {
        query = query.filter(Column::ChatbotId.eq(chatbot));
    }
    if let Some(owner) = owner_id {
        query = query.filter(Column::OwnerId.eq(owner));
    }
    query.all(db).await
}
