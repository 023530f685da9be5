//! Connections: one user's OAuth grant at one provider, tokens encrypted.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ExprTrait, QueryOrder, QuerySelect};

pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_NEEDS_RECONNECT: &str = "needs_reconnect";
pub const TABLE: &str = "connections";
pub const ACCESS_TOKEN: &str = "access_token";
pub const REFRESH_TOKEN: &str = "refresh_token";

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub provider: String,
    pub name: Option<String>,
    pub account: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub scopes: Json,
    pub provider_config: Json,
    /// The key both token columns are sealed under.
    pub key_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Grows with every token change (refresh, reconnect, re-encryption).
    pub token_version: i64,
    pub expires_at: Option<DateTimeUtc>,
    pub last_refreshed_at: Option<DateTimeUtc>,
    /// A provider's Retry-After, so every replica honours it.
    pub blocked_until: Option<DateTimeUtc>,
    /// The rate-limit bucket every replica draws from: tokens left when
    /// last counted, and when (None = a full bucket).
    pub rate_tokens: Option<f64>,
    pub rate_checked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn needs_reconnect(&self) -> bool {
        self.status == STATUS_NEEDS_RECONNECT
    }

    /// A string field of `provider_config` (e.g. Salesforce's `instance_url`).
    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.provider_config.get(key).and_then(|v| v.as_str())
    }
}

/// The owner's connection, or None (another user's does not exist for them).
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

/// The owner's connections, newest first.
#[tracing::instrument(skip(db))]
pub async fn list_owned<C: ConnectionTrait>(db: &C, owner_id: Uuid) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::OwnerId.eq(owner_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(db)
        .await
}

/// The owner's earlier connection to the same provider account, which a
/// reconnect updates in place (workflows keep their `connection_id`).
#[tracing::instrument(skip(db))]
pub async fn find_same_account<C: ConnectionTrait>(
    db: &C,
    owner_id: Uuid,
    provider: &str,
    account: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::OwnerId.eq(owner_id))
        .filter(Column::Provider.eq(provider))
        .filter(Column::Account.eq(account))
        .order_by_asc(Column::CreatedAt)
        .one(db)
        .await
}

/// Reads the row for a token change inside a writer transaction
/// ([`echoflow_service_kit::db::begin_writer`]): on PostgreSQL the row stays
/// locked (`FOR UPDATE`) until the transaction ends, so two replicas never
/// refresh one connection at once; SQLite has no row locks (the clause is
/// left out) and the writer transaction holds the whole database.
pub async fn lock_for_update<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id).lock_exclusive().one(db).await
}

/// The connection's rate bucket as stored: tokens left and when counted.
pub async fn rate_bucket<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Option<(Option<f64>, Option<DateTimeUtc>)>, DbErr> {
    Ok(Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|row| (row.rate_tokens, row.rate_checked_at)))
}

/// Stores the bucket as `tokens` at `now` if nobody changed it since it was
/// read as counted at `read_at` (a compare-and-swap, the same on both
/// databases); false when another caller (or replica) was first.
pub async fn swap_rate_bucket<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    read_at: Option<DateTimeUtc>,
    tokens: f64,
    now: DateTimeUtc,
) -> Result<bool, DbErr> {
    let unchanged = match read_at {
        Some(at) => Column::RateCheckedAt.eq(at),
        None => Column::RateCheckedAt.is_null(),
    };
    let result = Entity::update_many()
        .col_expr(Column::RateTokens, Expr::value(tokens))
        .col_expr(Column::RateCheckedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(unchanged)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records a provider's Retry-After, keeping a later one already stored.
pub async fn block_until<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    until: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::BlockedUntil, Expr::value(until))
        .filter(Column::Id.eq(id))
        .filter(
            Column::BlockedUntil
                .is_null()
                .or(Column::BlockedUntil.lt(until)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Connections whose tokens are not sealed under `key_id`, after `after`, by id.
pub async fn not_under_key<C: ConnectionTrait>(
    db: &C,
    key_id: &str,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find().filter(Column::KeyId.ne(key_id));
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.order_by_asc(Column::Id).limit(limit).all(db).await
}
