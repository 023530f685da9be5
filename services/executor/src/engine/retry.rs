//! When a failed step is tried again, by its error class: the node's own
//! `retry` policy when it sets one, else the class's default. A configuration
//! error is never retried.

use echoflow_domain::{Backoff, RetryPolicy};
use std::time::Duration;

use super::nodes::context::NodeError;

/// Transient errors: exponential from this, 3 retries.
const TRANSIENT_BASE_MS: u64 = 500;
const TRANSIENT_RETRIES: u32 = 3;
/// Rate limits without `Retry-After`: linear from this, 3 retries.
const RATE_LIMIT_STEP_MS: u64 = 1000;
const RATE_LIMIT_RETRIES: u32 = 3;
/// No wait is longer than this, whatever a server asks.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The wait before attempt `attempts + 1`, or None when the step fails for good.
pub fn next_delay(
    policy: Option<&RetryPolicy>,
    error: &NodeError,
    attempts: u32,
) -> Option<Duration> {
    let delay = match (error, policy) {
        (NodeError::Permanent(_), _) => return None,
        (NodeError::Unauthorized(_), _) => {
            // One retry, after the integration refreshed its token.
            return (attempts < 2).then_some(Duration::ZERO);
        }
        (_, Some(policy)) => {
            if attempts >= policy.max_attempts.max(1) {
                return None;
            }
            policy.delay_for(attempts)
        }
        (NodeError::Transient(_), None) => {
            if attempts > TRANSIENT_RETRIES {
                return None;
            }
            default_policy(Backoff::Exponential, TRANSIENT_BASE_MS, TRANSIENT_RETRIES)
                .delay_for(attempts)
        }
        (NodeError::RateLimited { .. }, None) => {
            if attempts > RATE_LIMIT_RETRIES {
                return None;
            }
            default_policy(Backoff::Linear, RATE_LIMIT_STEP_MS, RATE_LIMIT_RETRIES)
                .delay_for(attempts)
        }
    };
    // A server's Retry-After is a floor: never call again sooner.
    let delay = match error {
        NodeError::RateLimited {
            retry_after: Some(after),
            ..
        } => (*after).max(if policy.is_some() {
            delay
        } else {
            Duration::ZERO
        }),
        _ => delay,
    };
    Some(delay.min(MAX_DELAY))
}

fn default_policy(backoff: Backoff, delay_ms: u64, retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: retries + 1,
        backoff,
        delay_ms,
        max_delay_ms: Some(60_000),
        jitter: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> NodeError {
        NodeError::Transient("503".into())
    }

    #[test]
    fn transient_errors_back_off_exponentially_three_times() {
        let delays: Vec<Option<Duration>> =
            (1..=4).map(|a| next_delay(None, &transient(), a)).collect();
        assert!(delays[..3].iter().all(Option::is_some));
        assert_eq!(delays[3], None, "three retries, then the step fails");
        let ms: Vec<u128> = delays[..3].iter().map(|d| d.unwrap().as_millis()).collect();
        // 500, 1000, 2000 ms, each within the +-20% jitter.
        for (got, want) in ms.iter().zip([500u128, 1000, 2000]) {
            assert!(*got >= want * 8 / 10 && *got <= want * 12 / 10, "{ms:?}");
        }
    }

    #[test]
    fn configuration_errors_fail_at_once_and_auth_retries_once() {
        assert_eq!(
            next_delay(None, &NodeError::Permanent("400".into()), 1),
            None
        );
        let policy = RetryPolicy {
            max_attempts: 5,
            backoff: Backoff::Fixed,
            delay_ms: 10,
            max_delay_ms: None,
            jitter: false,
        };
        assert_eq!(
            next_delay(Some(&policy), &NodeError::Permanent("400".into()), 1),
            None,
            "a policy never retries a configuration error"
        );
        let auth = NodeError::Unauthorized("401".into());
        assert_eq!(next_delay(None, &auth, 1), Some(Duration::ZERO));
        assert_eq!(next_delay(None, &auth, 2), None);
    }

    #[test]
    fn rate_limits_honour_retry_after_else_back_off_linearly() {
        let told = NodeError::RateLimited {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(next_delay(None, &told, 1), Some(Duration::from_secs(2)));
        let untold = NodeError::RateLimited {
            message: "429".into(),
            retry_after: None,
        };
        let second = next_delay(None, &untold, 2).unwrap().as_millis();
        assert!((1600..=2400).contains(&second), "{second}");
        assert_eq!(next_delay(None, &untold, 4), None);
    }

    #[test]
    fn a_node_policy_sets_the_attempts_and_delays() {
        let policy = RetryPolicy {
            max_attempts: 2,
            backoff: Backoff::Fixed,
            delay_ms: 50,
            max_delay_ms: None,
            jitter: false,
        };
        assert_eq!(
            next_delay(Some(&policy), &transient(), 1),
            Some(Duration::from_millis(50))
        );
        assert_eq!(next_delay(Some(&policy), &transient(), 2), None);
    }
}
