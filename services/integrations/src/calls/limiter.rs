//! Per-connection rate limits, shared by every workflow that uses the
//! connection and by every integrations replica:
//! - a token bucket per connection (quota from the provider's
//!   `requests_per_minute` and `burst`), kept on the connection's row and
//!   taken by compare-and-swap, so N replicas together stay within one
//!   quota;
//! - the provider's own Retry-After, held in this process and written to
//!   the row (`blocked_until`), which every replica reads before a call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::time::Instant;
use uuid::Uuid;

use crate::provider::Provider;
use crate::settings::ProvidersSettings;
use crate::store::connections;

/// Compare-and-swap rounds lost to other callers before one counts as a
/// wait (each lost round means another call just took a token).
const MAX_LOST_SWAPS: u32 = 20;

/// The per-connection limits of one process.
pub struct Limiter {
    db: DatabaseConnection,
    /// Per provider: tokens added per second, and the bucket's size.
    quotas: HashMap<Provider, (f64, f64)>,
    /// Connections a provider asked us to leave alone until then.
    blocked: Mutex<HashMap<Uuid, Instant>>,
}

/// Waiting would end after the caller's deadline: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldWait(pub Duration);

/// Why a caller may not call now.
#[derive(Debug)]
pub enum Refused {
    Wait(WouldWait),
    Db(DbErr),
}

impl From<DbErr> for Refused {
    fn from(e: DbErr) -> Self {
        Refused::Db(e)
    }
}

/// The tokens in a bucket last counted at `at` with `tokens` left, at `now`.
fn refill(
    tokens: Option<f64>,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    per_sec: f64,
    burst: f64,
) -> f64 {
    let (Some(tokens), Some(at)) = (tokens, at) else {
        return burst;
    };
    let elapsed = (now - at).to_std().unwrap_or_default().as_secs_f64();
    (tokens + elapsed * per_sec).min(burst)
}

impl Limiter {
    pub fn new(db: DatabaseConnection, providers: &ProvidersSettings) -> Self {
        let quotas = Provider::ALL
            .into_iter()
            .map(|p| {
                let s = providers.of(p);
                let per_sec = f64::from(s.requests_per_minute.max(1)) / 60.0;
                (p, (per_sec, f64::from(s.burst.max(1))))
            })
            .collect();
        Self {
            db,
            quotas,
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until the connection may call its provider, or answers how
    /// long the caller should wait when that is after `deadline`.
    pub async fn acquire(
        &self,
        provider: Provider,
        connection: Uuid,
        stored_block: Option<DateTime<Utc>>,
        deadline: Instant,
    ) -> Result<(), Refused> {
        if let Some(until) = stored_block {
            self.block_until_utc(connection, until);
        }
        let (per_sec, burst) = self.quotas.get(&provider).copied().unwrap_or((1.0, 1.0));
        let mut lost = 0;
        loop {
            let now = Instant::now();
            if let Some(until) = self.blocked_until(connection)
                && until > now
            {
                if until > deadline {
                    return Err(Refused::Wait(WouldWait(until - now)));
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            let Some((tokens, at)) = connections::rate_bucket(&self.db, connection).await? else {
                // Deleted meanwhile: the call finds out on its own.
                return Ok(());
            };
            let at_now = Utc::now();
            let available = refill(tokens, at, at_now, per_sec, burst);
            if available >= 1.0 {
                if connections::swap_rate_bucket(&self.db, connection, at, available - 1.0, at_now)
                    .await?
                {
                    return Ok(());
                }
                lost += 1;
                if lost < MAX_LOST_SWAPS {
                    continue;
                }
            }
            lost = 0;
            let wait = Duration::from_secs_f64(((1.0 - available) / per_sec).max(0.001));
            if now + wait > deadline {
                return Err(Refused::Wait(WouldWait(wait)));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every caller of the connection back for `wait` (a provider's Retry-After).
    pub fn block_for(&self, connection: Uuid, wait: Duration) {
        let until = Instant::now() + wait;
        if let Ok(mut blocked) = self.blocked.lock() {
            let entry = blocked.entry(connection).or_insert(until);
            if *entry < until {
                *entry = until;
            }
        }
    }

    fn block_until_utc(&self, connection: Uuid, until: DateTime<Utc>) {
        if let Ok(wait) = (until - Utc::now()).to_std()
            && !wait.is_zero()
        {
            self.block_for(connection, wait);
        }
    }

    fn blocked_until(&self, connection: Uuid) -> Option<Instant> {
        let mut blocked = self.blocked.lock().ok()?;
        let until = *blocked.get(&connection)?;
        if until <= Instant::now() {
            blocked.remove(&connection);
            return None;
        }
        Some(until)
    }

    /// Forgets a deleted connection.
    pub fn forget(&self, connection: Uuid) {
        if let Ok(mut blocked) = self.blocked.lock() {
            blocked.remove(&connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_size() {
        let now = Utc::now();
        assert_eq!(
            refill(None, None, now, 1.0, 5.0),
            5.0,
            "a new bucket is full"
        );
        let before = now - chrono::Duration::seconds(2);
        assert_eq!(refill(Some(0.5), Some(before), now, 1.0, 5.0), 2.5);
        assert_eq!(
            refill(Some(4.5), Some(before), now, 1.0, 5.0),
            5.0,
            "never over the burst"
        );
        // A clock that went back refills nothing.
        let later = now + chrono::Duration::seconds(3);
        assert_eq!(refill(Some(0.25), Some(later), now, 1.0, 5.0), 0.25);
    }
}
