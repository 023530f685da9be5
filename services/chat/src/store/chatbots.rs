//! Chatbots: owned by one user, reached by end users with their API key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chatbots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub welcome_message: Option<String>,
    pub settings: Json,
    pub api_key_hash: String,
    pub api_key_prefix: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The caller's chatbot, or None (another user's chatbot does not exist for them).
#[tracing::instrument(skip(db))]
pub async fn find_owned<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    owner_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::OwnerId.eq(owner_id))
        .one(db)
        .await
}

/// The chatbot a widget key opens, by the key's hash.
#[tracing::instrument(skip_all)]
pub async fn find_by_key_hash<C: ConnectionTrait>(
    db: &C,
    key_hash: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::ApiKeyHash.eq(key_hash))
        .one(db)
        .await
}
