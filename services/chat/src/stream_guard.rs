//! Ends the session streams whose right to stream is gone. A stream was
//! proven by a chatbot's key and a conversation's token; once the key is
//! rotated, the chatbot deleted or the conversation erased (its end user's
//! erasure), the stream must not outlive it. Each replica rechecks the
//! grants of the streams it holds every `session_stream.recheck_secs`
//! against the database, which every replica shares: whichever replica
//! rotated, deleted or erased, the streams end everywhere within that time,
//! with no message between replicas to lose.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::live::SessionStreams;
use crate::store::{chatbots, sessions};

/// Ids per query, under every database's bound-parameter limit.
const CHUNK: usize = 500;

/// Rechecks `hub`'s streams every `every` until `stopping`.
pub fn spawn(
    db: DatabaseConnection,
    hub: Arc<SessionStreams>,
    every: Duration,
    stopping: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match recheck(&db, &hub).await {
                Ok(0) => {}
                Ok(ended) => tracing::info!(ended, "session streams ended: their grant is gone"),
                // The streams go on; the next tick tries again.
                Err(error) => {
                    tracing::warn!(error = %error, "could not recheck the session streams")
                }
            }
        }
    })
}

/// Ends every stream whose chatbot no longer holds the key it was opened
/// with (rotated, or the chatbot deleted) or whose conversation is gone.
/// Returns how many ended.
pub async fn recheck(db: &DatabaseConnection, hub: &SessionStreams) -> Result<usize, DbErr> {
    let grants = hub.grants();
    if grants.is_empty() {
        return Ok(0);
    }
    let chatbot_ids: Vec<Uuid> = unique(grants.iter().map(|(_, g)| g.chatbot_id));
    let session_ids: Vec<Uuid> = unique(grants.iter().map(|(_, g)| g.session_id));
    let mut keys: HashMap<Uuid, String> = HashMap::new();
    for chunk in chatbot_ids.chunks(CHUNK) {
        let rows: Vec<(Uuid, String)> = chatbots::Entity::find()
            .select_only()
            .column(chatbots::Column::Id)
            .column(chatbots::Column::ApiKeyHash)
            .filter(chatbots::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        keys.extend(rows);
    }
    let mut live_sessions: HashSet<Uuid> = HashSet::new();
    for chunk in session_ids.chunks(CHUNK) {
        let rows: Vec<Uuid> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        live_sessions.extend(rows);
    }
    // Only the slots read above: a stream opened meanwhile is checked next time.
    let gone: HashSet<u64> = grants
        .into_iter()
        .filter(|(_, g)| {
            keys.get(&g.chatbot_id) != Some(&g.key_hash) || !live_sessions.contains(&g.session_id)
        })
        .map(|(slot, _)| slot)
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    Ok(hub.revoke(&gone))
}

fn unique(ids: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    ids.collect::<HashSet<_>>().into_iter().collect()
}
