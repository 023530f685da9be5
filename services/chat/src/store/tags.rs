//! Tags on a conversation (set by workflows), each remembering the message it was set for.

use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_tags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tag: String,
    pub message_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Tags of each session, in the order they were set.
pub async fn of_sessions<C: ConnectionTrait>(
    db: &C,
    session_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Model>>, DbErr> {
    let mut by_session: HashMap<Uuid, Vec<Model>> = HashMap::new();
    if session_ids.is_empty() {
        return Ok(by_session);
    }
    let rows = Entity::find()
        .filter(Column::SessionId.is_in(session_ids.to_vec()))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Tag)
        .all(db)
        .await?;
    for row in rows {
        by_session.entry(row.session_id).or_default().push(row);
    }
    Ok(by_session)
}
