//! The states of connects in progress: single use, expiring, bound to the
//! user who started them. Only a SHA-256 of the state is stored.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};

pub const TABLE: &str = "oauth_states";
pub const PKCE_VERIFIER: &str = "pkce_verifier";

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub state_hash: String,
    pub user_id: Uuid,
    pub provider: String,
    pub key_id: String,
    /// Encrypted like the tokens.
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The stored form of a state.
pub fn hash(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[tracing::instrument(skip_all)]
pub async fn find_by_state<C: ConnectionTrait>(
    db: &C,
    state: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::StateHash.eq(hash(state)))
        .one(db)
        .await
}

/// Spends the state: true for the one caller that got it first.
pub async fn mark_used<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    let result = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Forgets states that expired more than a day ago (used ones included);
/// recent ones stay so a late callback is told "expired", not "unknown".
pub async fn purge_expired<C: ConnectionTrait>(
    db: &C,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbErr> {
    let result = Entity::delete_many()
        .filter(Column::ExpiresAt.lt(now - chrono::Duration::days(1)))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Pending (unused, unexpired) states not sealed under `key_id`, after `after`.
pub async fn pending_not_under_key<C: ConnectionTrait>(
    db: &C,
    key_id: &str,
    now: chrono::DateTime<chrono::Utc>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find()
        .filter(Column::KeyId.ne(key_id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now));
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.order_by_asc(Column::Id).limit(limit).all(db).await
}
