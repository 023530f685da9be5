//! Conversation sessions: one conversation of one end user with a chatbot.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub external_user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub message_count: i32,
    pub started_at: DateTimeUtc,
    pub last_message_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn find_in_chatbot<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    chatbot_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::ChatbotId.eq(chatbot_id))
        .one(db)
        .await
}
