//! Per-connection rate limits: a token bucket per connection (governor,
//! quota from the provider's `requests_per_minute` and `burst`) plus the
//! provider's own Retry-After, shared by every workflow that uses the
//! connection.
//!
//! The buckets live in this integrations process: replicas each keep their
//! own, so N replicas allow up to N times the quota. A provider's
//! Retry-After is also written to the connection row (`blocked_until`) and
//! read before each call, so every replica honours it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;
use uuid::Uuid;

use crate::provider::Provider;
use crate::settings::ProvidersSettings;

/// The per-connection limiters of one process.
pub struct Limiter {
    buckets: HashMap<Provider, DefaultKeyedRateLimiter<Uuid>>,
    clock: DefaultClock,
    /// Connections a provider asked us to leave alone until then.
    blocked: Mutex<HashMap<Uuid, Instant>>,
}

/// Waiting would end after the caller's deadline: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldWait(pub Duration);

fn quota(requests_per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(requests_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Limiter {
    pub fn new(providers: &ProvidersSettings) -> Self {
        let buckets = Provider::ALL
            .into_iter()
            .map(|p| {
                let s = providers.of(p);
                (p, RateLimiter::keyed(quota(s.requests_per_minute, s.burst)))
            })
            .collect();
        Self {
            buckets,
            clock: DefaultClock::default(),
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
    ) -> Result<(), WouldWait> {
        if let Some(until) = stored_block {
            self.block_until_utc(connection, until);
        }
        loop {
            let now = Instant::now();
            if let Some(until) = self.blocked_until(connection)
                && until > now
            {
                if until > deadline {
                    return Err(WouldWait(until - now));
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            let Some(bucket) = self.buckets.get(&provider) else {
                return Ok(());
            };
            match bucket.check_key(&connection) {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    if now + wait > deadline {
                        return Err(WouldWait(wait));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
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
        for bucket in self.buckets.values() {
            bucket.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn limiter(rpm: u32, burst: u32) -> Limiter {
        let mut providers = Settings::load(&[]).unwrap().integrations.providers;
        providers.slack.requests_per_minute = rpm;
        providers.slack.burst = burst;
        Limiter::new(&providers)
    }

    #[tokio::test]
    async fn the_burst_passes_then_callers_are_told_how_long_to_wait() {
        let l = limiter(1, 2);
        let c = Uuid::new_v4();
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(l.acquire(Provider::Slack, c, None, soon).await.is_ok());
        assert!(l.acquire(Provider::Slack, c, None, soon).await.is_ok());
        let WouldWait(wait) = l.acquire(Provider::Slack, c, None, soon).await.unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        // Another connection has its own bucket.
        assert!(
            l.acquire(Provider::Slack, Uuid::new_v4(), None, soon)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_block_holds_callers_until_it_ends() {
        let l = limiter(600, 10);
        let c = Uuid::new_v4();
        l.block_for(c, Duration::from_millis(150));
        let started = Instant::now();
        let near = Instant::now() + Duration::from_millis(20);
        assert!(l.acquire(Provider::Slack, c, None, near).await.is_err());
        let far = Instant::now() + Duration::from_secs(2);
        l.acquire(Provider::Slack, c, None, far).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(140));
        // A block stored by another replica counts too.
        let other = Uuid::new_v4();
        let stored = Utc::now() + chrono::Duration::seconds(30);
        assert!(
            l.acquire(Provider::Slack, other, Some(stored), far)
                .await
                .is_err()
        );
    }
}
