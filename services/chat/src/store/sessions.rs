//! Conversation sessions: one conversation of one end user with a chatbot.

use sea_orm::QueryOrder;
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

/// The user's latest conversation on this chatbot if it is still going
/// (a message since `since`).
pub async fn latest_active<C: ConnectionTrait>(
    db: &C,
    chatbot_id: Uuid,
    email: &str,
    since: DateTimeUtc,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::ChatbotId.eq(chatbot_id))
        .filter(Column::UserEmail.eq(email))
        .filter(Column::LastMessageAt.gte(since))
        .order_by_desc(Column::LastMessageAt)
        .one(db)
        .await
}
