//! Access tokens revoked before they expire (by a logout), kept until they expire.

use chrono::{DateTime, Utc};
use sea_orm::Set;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: Uuid,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Revokes the token `jti` until `expires_at`, and forgets tokens that expired since.
#[tracing::instrument(skip(db))]
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    jti: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Entity::insert(ActiveModel {
        jti: Set(jti),
        expires_at: Set(expires_at),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await
    .map(|_| ())
}

/// Whether the token `jti` was revoked.
pub async fn is_revoked<C: ConnectionTrait>(db: &C, jti: Uuid) -> Result<bool, DbErr> {
    Ok(Entity::find_by_id(jti).one(db).await?.is_some())
}
