//! Messages of a conversation, with the user's sentiment and intent.

use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub chatbot_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// Where an assistant message came from: `faq`, `llm`, `fallback`,
    /// `welcome` or `workflow`; `widget` for user messages.
    pub source: String,
    pub sentiment_score: Option<f64>,
    pub sentiment_label: Option<String>,
    pub intent: Option<String>,
    pub intent_confidence: Option<f64>,
    /// Set by internal posts, so a retried workflow step posts once.
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const ROLE_USER: &str = "user";
pub const ROLE_ASSISTANT: &str = "assistant";

/// The last `limit` messages of a session, oldest first: the memory window.
#[tracing::instrument(skip(db))]
pub async fn last_of_session<C: ConnectionTrait>(
    db: &C,
    session_id: Uuid,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut recent = Entity::find()
        .filter(Column::SessionId.eq(session_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    recent.reverse();
    Ok(recent)
}

pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::IdempotencyKey.eq(key))
        .one(db)
        .await
}
