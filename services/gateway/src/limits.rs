//! Rate limits. Sign-in and registration attempts count in the identity
//! database (a fixed-window counter per client address and per account), so
//! every gateway replica draws from one budget; the API per user and the
//! chat per chatbot key are limited in this process with `governor`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use echoflow_service_kit::{ApiError, ErrorCode};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use sea_orm::ConnectionTrait;
use serde_json::json;
use uuid::Uuid;

use crate::settings::RateLimitSettings;
use crate::store::rate_counters;

/// A request refused for going over a limit: 429 with `Retry-After`.
#[derive(Debug)]
pub struct Throttled {
    pub retry_after_secs: u64,
    pub limit: &'static str,
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many requests ({}); retry in {} s",
            self.limit, self.retry_after_secs
        )
    }
}

impl ResponseError for Throttled {
    fn status_code(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn error_response(&self) -> HttpResponse {
        let body = ApiError::new(ErrorCode::RateLimited, self.to_string())
            .with_details(json!({"limit": self.limit, "retry_after_secs": self.retry_after_secs}))
            .body();
        HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, self.retry_after_secs.to_string()))
            .json(body)
    }
}

/// The two routes whose attempts count in the database.
#[derive(Debug, Clone, Copy)]
pub enum AuthRoute {
    Token,
    Register,
}

impl AuthRoute {
    fn name(self) -> &'static str {
        match self {
            AuthRoute::Token => "token",
            AuthRoute::Register => "register",
        }
    }
}

type KeyedLimiter<K> = RateLimiter<K, DashMapStateStore<K>, DefaultClock>;

/// A per-process limit on one kind of key; `None` when turned off (0).
struct ProcessLimit<K: std::hash::Hash + Eq + Clone> {
    limiter: Option<KeyedLimiter<K>>,
    clock: DefaultClock,
    checks: AtomicU64,
    name: &'static str,
}

impl<K: std::hash::Hash + Eq + Clone> ProcessLimit<K> {
    fn per_minute(per_minute: u32, name: &'static str) -> Self {
        let clock = DefaultClock::default();
        let limiter = NonZeroU32::new(per_minute)
            .map(|n| RateLimiter::dashmap_with_clock(Quota::per_minute(n), clock.clone()));
        Self {
            limiter,
            clock,
            checks: AtomicU64::new(0),
            name,
        }
    }

    fn check(&self, key: &K) -> Result<(), Throttled> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Keys whose bucket is full again are forgotten now and then, so the map stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Throttled {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                limit: self.name,
            }
        })
    }
}

/// Every rate limit of the gateway, as app data.
pub struct Limits {
    settings: RateLimitSettings,
    users: ProcessLimit<Uuid>,
    chat_keys: ProcessLimit<[u8; 32]>,
}

impl Limits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            settings: settings.clone(),
            users: ProcessLimit::per_minute(settings.api_per_user_per_minute, "api_per_user"),
            chat_keys: ProcessLimit::per_minute(settings.chat_per_key_per_minute, "chat_per_key"),
        }
    }

    /// One API request of a signed-in user.
    pub fn check_user(&self, user: Uuid) -> Result<(), Throttled> {
        self.users.check(&user)
    }

    /// One chat request with this chatbot key (known here only by its hash).
    pub fn check_chat_key(&self, key: &[u8]) -> Result<(), Throttled> {
        use sha2::Digest;
        self.chat_keys.check(&sha2::Sha256::digest(key).into())
    }

    /// The caller's address: the peer, or behind a trusted proxy the last
    /// `X-Forwarded-For` entry (the one that proxy added).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let forwarded = || {
            req.headers()
                .get_all("x-forwarded-for")
                .last()?
                .to_str()
                .ok()?
                .rsplit(',')
                .next()?
                .trim()
                .parse()
                .ok()
        };
        if self.settings.trust_forwarded_for
            && let Some(ip) = forwarded()
        {
            return Some(ip);
        }
        req.peer_addr().map(|peer| peer.ip())
    }

    /// Counts one attempt on `route` by the caller of `req` for `email` (as
    /// typed: trimmed and lower-cased here); refused when either the address
    /// or the account went over its limit in this window.
    pub async fn check_auth<C: ConnectionTrait>(
        &self,
        db: &C,
        route: AuthRoute,
        req: &HttpRequest,
        email: &str,
    ) -> Result<(), actix_web::Error> {
        let ip = self.client_ip(req);
        let email = email.trim().to_lowercase();
        let window = i64::from(self.settings.auth_window_secs.max(1));
        let now = Utc::now().timestamp();
        let start = now - now.rem_euclid(window);
        let ip = ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
        let account = crate::store::refresh_tokens::hash(&email);
        let buckets = [
            (
                format!("{}:ip:{ip}", route.name()),
                self.settings.auth_per_ip,
                "auth_per_ip",
            ),
            (
                format!("{}:account:{account}", route.name()),
                self.settings.auth_per_account,
                "auth_per_account",
            ),
        ];
        for (bucket, limit, name) in buckets {
            if limit == 0 {
                continue;
            }
            let hits = rate_counters::hit(db, &bucket, start)
                .await
                .map_err(ApiError::internal)?;
            if hits == 1 {
                // The first hit of a window: the windows before it are over.
                rate_counters::prune(db, start)
                    .await
                    .map_err(ApiError::internal)?;
            }
            if i64::from(hits) > i64::from(limit) {
                return Err(Throttled {
                    retry_after_secs: u64::try_from(start + window - now).unwrap_or(1).max(1),
                    limit: name,
                }
                .into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_limit_refuses_past_its_quota_with_a_wait_and_zero_turns_it_off() {
        let limit = ProcessLimit::per_minute(2, "test");
        let key = Uuid::new_v4();
        assert!(limit.check(&key).is_ok());
        assert!(limit.check(&key).is_ok());
        let refused = limit.check(&key).unwrap_err();
        assert!((1..=30).contains(&refused.retry_after_secs), "{refused}");
        assert!(
            limit.check(&Uuid::new_v4()).is_ok(),
            "other keys unaffected"
        );
        let off = ProcessLimit::per_minute(0, "off");
        assert!((0..100).all(|_| off.check(&key).is_ok()));
    }
}
