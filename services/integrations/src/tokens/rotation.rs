//! Key rotation: re-encrypts every stored token (and the PKCE verifier of
//! every pending connect) that is not under the active key.
//!
//! Rotate in three steps: give every integrations process the keyring with
//! both keys and the new one active (new and refreshed tokens already use
//! it), run `echoflow integrations reencrypt`, then remove the old key.
//! Each row is re-encrypted in its own short transaction, guarded by its
//! `token_version` (or its key id), so the run is idempotent, can be
//! interrupted and resumed, and never overwrites a concurrent refresh.

use chrono::Utc;
use echoflow_migrations::Slice;
use echoflow_service_kit::settings::DatabaseSettings;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use uuid::Uuid;

use crate::settings::Settings;
use crate::store::{aad, connections, oauth_states};
use crate::tokens::keyring::Keyring;
use crate::tokens::{open, seal};

const BATCH: u64 = 100;

/// Re-encrypts everything not under `keyring`'s active key; calls
/// `progress(done, total)` after each row. Returns how many rows changed.
pub async fn reencrypt_all(
    db: &DatabaseConnection,
    keyring: &Keyring,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<u64> {
    let active = keyring.active_id().to_string();
    let now = Utc::now();
    let total_connections = connections::Entity::find()
        .filter(connections::Column::KeyId.ne(active.as_str()))
        .count(db)
        .await?;
    let total_states = oauth_states::Entity::find()
        .filter(oauth_states::Column::KeyId.ne(active.as_str()))
        .filter(oauth_states::Column::UsedAt.is_null())
        .filter(oauth_states::Column::ExpiresAt.gt(now))
        .count(db)
        .await?;
    let total = total_connections + total_states;
    let mut done = 0u64;
    let mut changed = 0u64;
    let mut after: Option<Uuid> = None;
    loop {
        let batch = connections::not_under_key(db, &active, after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for row in batch {
            if reencrypt_connection(db, keyring, row.id).await? {
                changed += 1;
            }
            done += 1;
            progress(done, total.max(done));
        }
    }
    let mut after: Option<Uuid> = None;
    loop {
        let batch = oauth_states::pending_not_under_key(db, &active, now, after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for row in batch {
            if reencrypt_state(db, keyring, &row).await? {
                changed += 1;
            }
            done += 1;
            progress(done, total.max(done));
        }
    }
    Ok(changed)
}

/// One connection, in its own transaction; false when it needed nothing.
async fn reencrypt_connection(
    db: &DatabaseConnection,
    keyring: &Keyring,
    id: Uuid,
) -> anyhow::Result<bool> {
    let txn = echoflow_service_kit::db::begin_writer(db).await?;
    let Some(row) = connections::lock_for_update(&txn, id).await? else {
        return Ok(false);
    };
    if row.key_id == keyring.active_id() {
        return Ok(false);
    }
    let (access, refresh) = open(keyring, &row).map_err(|e| {
        anyhow::anyhow!(
            "connection {}: {e} (is key {:?} still configured?)",
            row.id,
            row.key_id
        )
    })?;
    let sealed = seal(keyring, row.id, &access, refresh.as_deref())?;
    let updated = connections::Entity::update_many()
        .col_expr(connections::Column::KeyId, Expr::value(sealed.key_id))
        .col_expr(
            connections::Column::AccessToken,
            Expr::value(sealed.access_token),
        )
        .col_expr(
            connections::Column::RefreshToken,
            Expr::value(sealed.refresh_token),
        )
        .col_expr(
            connections::Column::TokenVersion,
            Expr::value(row.token_version + 1),
        )
        .filter(connections::Column::Id.eq(row.id))
        .filter(connections::Column::TokenVersion.eq(row.token_version))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    // Not updated = refreshed meanwhile, which sealed it under the active key.
    Ok(updated.rows_affected == 1)
}

async fn reencrypt_state(
    db: &DatabaseConnection,
    keyring: &Keyring,
    row: &oauth_states::Model,
) -> anyhow::Result<bool> {
    let place = aad(oauth_states::TABLE, row.id, oauth_states::PKCE_VERIFIER);
    let verifier = keyring
        .decrypt(&row.key_id, &row.pkce_verifier, &place)
        .map_err(|e| anyhow::anyhow!("OAuth state {}: {e}", row.id))?;
    let sealed = keyring.encrypt(&verifier, &place)?;
    let txn = db.begin().await?;
    let updated = oauth_states::Entity::update_many()
        .col_expr(
            oauth_states::Column::KeyId,
            Expr::value(keyring.active_id()),
        )
        .col_expr(oauth_states::Column::PkceVerifier, Expr::value(sealed))
        .filter(oauth_states::Column::Id.eq(row.id))
        .filter(oauth_states::Column::KeyId.eq(row.key_id.as_str()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated.rows_affected == 1)
}

/// Opens the integrations database and keyring of `settings` (migrating the
/// slice if needed) and runs [`reencrypt_all`]: `echoflow integrations reencrypt`.
pub async fn reencrypt_from_settings(
    settings: &Settings,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<u64> {
    let keyring = Keyring::parse_section(
        "integrations",
        &settings.integrations.encryption_keys,
        &settings.integrations.active_key_id,
    )?;
    let database = DatabaseSettings {
        max_connections: settings.common.database.max_connections.min(4),
        ..settings.common.database.clone()
    };
    let db = echoflow_service_kit::db::connect_slice(&database, Slice::Integrations).await?;
    let changed = reencrypt_all(&db, &keyring, progress).await;
    db.close().await?;
    changed
}
