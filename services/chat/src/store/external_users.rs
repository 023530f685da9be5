//! End users of a chatbot, known by email.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use sea_orm::{QuerySelect, Set};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "external_users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub email: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The user with `email` on this chatbot, created on first sight, and held
/// until the caller's transaction ends, so that one user's turns store one
/// at a time (`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the caller's
/// transaction, begun with [`echoflow_service_kit::db::begin_writer`], holds
/// the database's write lock). Concurrent first messages race on the unique
/// (chatbot, email) index; the loser's insert does nothing and it reads the
/// winner's row (a failed insert would abort the caller's transaction on
/// PostgreSQL).
#[tracing::instrument(skip(db))]
pub async fn find_or_create<C: ConnectionTrait>(
    db: &C,
    chatbot_id: Uuid,
    email: &str,
) -> Result<Model, DbErr> {
    let row = ActiveModel {
        id: Set(Uuid::now_v7()),
        chatbot_id: Set(chatbot_id),
        email: Set(email.to_string()),
        created_at: Set(chrono::Utc::now()),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::ChatbotId, Column::Email])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Entity::find()
        .filter(Column::ChatbotId.eq(chatbot_id))
        .filter(Column::Email.eq(email))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("external user".into()))
}
