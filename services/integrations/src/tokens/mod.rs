//! The token lifecycle of a connection: decrypt, refresh ahead of expiry or
//! after a 401, persist rotated refresh tokens, and give up for good on a
//! revoked grant.
//!
//! Refreshes of one connection are serialised: an async mutex per
//! connection in this process, then (PostgreSQL) `SELECT ... FOR UPDATE` on
//! the row for the whole refresh, so two replicas never both spend the same
//! refresh token; the row is re-read under the lock and a refresh that
//! another caller already did (its `token_version` moved) is reused. On
//! SQLite (one process) the row is updated with a compare-and-swap on
//! `token_version` instead of holding a write transaction over the network.

pub mod keyring;
pub mod rotation;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use echoflow_bus::outbox::OutboxHandle;
use echoflow_service_kit::db::begin_writer;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::error::Error;
use crate::events::{self, Origin};
use crate::oauth::{OAuthProvider, TokenError, TokenSet};
use crate::provider::Provider;
use crate::settings::ProvidersSettings;
use crate::store::{aad, connections};
use crate::tokens::keyring::Keyring;

/// An access token ready to use, and the token version it belongs to.
pub struct Access {
    pub token: String,
    pub version: i64,
}

/// Decrypts, refreshes and persists the tokens of connections.
pub struct Tokens {
    db: DatabaseConnection,
    keyring: Arc<Keyring>,
    providers: ProvidersSettings,
    http: reqwest::Client,
    margin: chrono::Duration,
    relay: OutboxHandle,
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// The sealed form of a connection's tokens, under the active key.
pub struct SealedTokens {
    pub key_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// Seals both tokens of connection `id` under the keyring's active key.
pub fn seal(
    keyring: &Keyring,
    id: Uuid,
    access: &str,
    refresh: Option<&str>,
) -> Result<SealedTokens, crate::tokens::keyring::CryptoError> {
    Ok(SealedTokens {
        key_id: keyring.active_id().to_string(),
        access_token: keyring.encrypt(
            access,
            &aad(connections::TABLE, id, connections::ACCESS_TOKEN),
        )?,
        refresh_token: refresh
            .map(|r| keyring.encrypt(r, &aad(connections::TABLE, id, connections::REFRESH_TOKEN)))
            .transpose()?,
    })
}

/// The plain tokens of a connection row.
pub fn open(
    keyring: &Keyring,
    row: &connections::Model,
) -> Result<(String, Option<String>), crate::tokens::keyring::CryptoError> {
    let access = keyring.decrypt(
        &row.key_id,
        &row.access_token,
        &aad(connections::TABLE, row.id, connections::ACCESS_TOKEN),
    )?;
    let refresh = row
        .refresh_token
        .as_deref()
        .map(|r| {
            keyring.decrypt(
                &row.key_id,
                r,
                &aad(connections::TABLE, row.id, connections::REFRESH_TOKEN),
            )
        })
        .transpose()?;
    Ok((access, refresh))
}

/// `expires_in` from now, as stored.
pub fn expiry(set: &TokenSet) -> Option<chrono::DateTime<Utc>> {
    set.expires_in
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() + d)
}

impl Tokens {
    pub fn new(
        db: DatabaseConnection,
        keyring: Arc<Keyring>,
        providers: ProvidersSettings,
        http: reqwest::Client,
        refresh_margin_secs: i64,
        relay: OutboxHandle,
    ) -> Self {
        Self {
            db,
            keyring,
            providers,
            http,
            margin: chrono::Duration::seconds(refresh_margin_secs.max(0)),
            relay,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// True when the access token expires within the refresh margin.
    pub fn is_due(&self, row: &connections::Model) -> bool {
        row.expires_at
            .is_some_and(|at| at - self.margin <= Utc::now())
    }

    /// A usable access token for `row` (just read): refreshed first when it
    /// is about to expire and can be refreshed.
    pub async fn current(&self, row: &connections::Model, origin: Origin) -> Result<Access, Error> {
        if row.needs_reconnect() {
            return Err(reconnect_error(row));
        }
        if self.is_due(row) && row.refresh_token.is_some() {
            match self.refresh(row.id, row.token_version, origin).await {
                // A token inside the margin still works: a provider that
                // cannot refresh right now does not fail the call yet.
                Err(Error::ProviderUnavailable(_) | Error::RateLimited { .. })
                    if row.expires_at.is_some_and(|at| at > Utc::now()) =>
                {
                    tracing::warn!(connection_id = %row.id, "refresh failed; using the current token until it expires");
                }
                other => return other,
            }
        }
        let (token, _) = open(&self.keyring, row)?;
        Ok(Access {
            token,
            version: row.token_version,
        })
    }

    fn lock_of(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        match self.locks.lock() {
            Ok(mut locks) => locks.entry(id).or_default().clone(),
            // A poisoned map only loses the in-process serialisation; the
            // row lock / compare-and-swap still protect the refresh token.
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Forgets a deleted connection.
    pub fn forget(&self, id: Uuid) {
        if let Ok(mut locks) = self.locks.lock() {
            locks.remove(&id);
        }
    }

    /// Refreshes the tokens of connection `id`, which the caller last saw at
    /// `seen_version`; when someone refreshed since, their token is used.
    #[tracing::instrument(skip(self, origin), fields(connection_id = %id))]
    pub async fn refresh(
        &self,
        id: Uuid,
        seen_version: i64,
        origin: Origin,
    ) -> Result<Access, Error> {
        let lock = self.lock_of(id);
        let _serialised = lock.lock().await;
        // PostgreSQL: the row stays locked over the provider call. SQLite: its
        // only lock is the whole database's, too wide to hold over the network.
        let held = if self.db.get_database_backend() == DatabaseBackend::Postgres {
            Some(begin_writer(&self.db).await?)
        } else {
            None
        };
        let row = match &held {
            Some(txn) => connections::lock_for_update(txn, id).await?,
            None => connections::Entity::find_by_id(id).one(&self.db).await?,
        }
        .ok_or_else(|| crate::error::not_found("connection"))?;
        if row.needs_reconnect() {
            return Err(reconnect_error(&row));
        }
        if row.token_version != seen_version {
            let (token, _) = open(&self.keyring, &row)?;
            return Ok(Access {
                token,
                version: row.token_version,
            });
        }
        let provider = Provider::parse(&row.provider).ok_or_else(|| {
            anyhow::anyhow!("connection {id} has unknown provider {}", row.provider)
        })?;
        let (_, refresh_token) = open(&self.keyring, &row)?;
        let outcome = match &refresh_token {
            Some(token) => {
                OAuthProvider::new(provider, self.providers.of(provider), &self.http)
                    .refresh(token)
                    .await
            }
            None => Err(TokenError::InvalidGrant(
                "the provider refused the access token and there is no refresh token".into(),
            )),
        };
        let txn = match held {
            Some(txn) => txn,
            None => begin_writer(&self.db).await?,
        };
        match outcome {
            Ok(set) => {
                self.store_refreshed(txn, &row, refresh_token.as_deref(), set)
                    .await
            }
            Err(TokenError::InvalidGrant(reason)) => {
                self.mark_needs_reconnect(txn, &row, &reason, origin)
                    .await?;
                Err(Error::NeedsReconnect { reason })
            }
            Err(TokenError::RateLimited(wait)) => Err(Error::RateLimited { retry_after: wait }),
            Err(TokenError::Unavailable(why)) => Err(Error::ProviderUnavailable(format!(
                "{provider}: the token refresh failed: {why}"
            ))),
            Err(TokenError::Rejected(why)) => Err(Error::ProviderRejected {
                status: 400,
                message: format!("{provider}: the token refresh was refused: {why}"),
                body: String::new(),
            }),
        }
    }

    async fn store_refreshed(
        &self,
        txn: DatabaseTransaction,
        row: &connections::Model,
        old_refresh: Option<&str>,
        set: TokenSet,
    ) -> Result<Access, Error> {
        // A provider that rotates refresh tokens sends a new one; keep the
        // old one when it does not. Both are sealed under the active key.
        let refresh = set.refresh_token.as_deref().or(old_refresh);
        let sealed = seal(&self.keyring, row.id, &set.access_token, refresh)?;
        let now = Utc::now();
        let version = row.token_version + 1;
        let mut update = connections::Entity::update_many()
            .col_expr(connections::Column::KeyId, Expr::value(sealed.key_id))
            .col_expr(
                connections::Column::AccessToken,
                Expr::value(sealed.access_token),
            )
            .col_expr(
                connections::Column::RefreshToken,
                Expr::value(sealed.refresh_token),
            )
            .col_expr(connections::Column::TokenVersion, Expr::value(version))
            .col_expr(connections::Column::ExpiresAt, Expr::value(expiry(&set)))
            .col_expr(connections::Column::LastRefreshedAt, Expr::value(now))
            .col_expr(connections::Column::UpdatedAt, Expr::value(now));
        if let Some(scopes) = &set.scopes {
            update = update.col_expr(connections::Column::Scopes, Expr::value(json!(scopes)));
        }
        let updated = update
            .filter(connections::Column::Id.eq(row.id))
            .filter(connections::Column::TokenVersion.eq(row.token_version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            // Another process refreshed in between (SQLite only: PostgreSQL
            // holds the row lock); its tokens win.
            txn.rollback().await?;
            let current = connections::Entity::find_by_id(row.id)
                .one(&self.db)
                .await?
                .ok_or_else(|| crate::error::not_found("connection"))?;
            if current.needs_reconnect() {
                return Err(reconnect_error(&current));
            }
            let (token, _) = open(&self.keyring, &current)?;
            return Ok(Access {
                token,
                version: current.token_version,
            });
        }
        txn.commit().await?;
        tracing::info!(connection_id = %row.id, rotated = set.refresh_token.is_some(), "tokens refreshed");
        Ok(Access {
            token: set.access_token,
            version,
        })
    }

    /// Marks the connection `needs_reconnect` and emits the event, in one
    /// transaction; from then on nothing calls the provider for it.
    async fn mark_needs_reconnect(
        &self,
        txn: DatabaseTransaction,
        row: &connections::Model,
        reason: &str,
        origin: Origin,
    ) -> Result<(), Error> {
        let now = Utc::now();
        let updated = connections::Entity::update_many()
            .col_expr(
                connections::Column::Status,
                Expr::value(connections::STATUS_NEEDS_RECONNECT),
            )
            .col_expr(connections::Column::StatusReason, Expr::value(reason))
            .col_expr(
                connections::Column::TokenVersion,
                Expr::value(row.token_version + 1),
            )
            .col_expr(connections::Column::UpdatedAt, Expr::value(now))
            .filter(connections::Column::Id.eq(row.id))
            .filter(connections::Column::TokenVersion.eq(row.token_version))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 1 {
            events::emit_needs_reconnect(&txn, row.id, row.owner_id, &row.provider, reason, origin)
                .await?;
        }
        txn.commit().await?;
        self.relay.notify();
        tracing::warn!(connection_id = %row.id, provider = %row.provider, reason, "connection needs reconnect");
        Ok(())
    }
}

fn reconnect_error(row: &connections::Model) -> Error {
    Error::NeedsReconnect {
        reason: row
            .status_reason
            .clone()
            .unwrap_or_else(|| "the grant was revoked".into()),
    }
}
