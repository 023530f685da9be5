//! The compiled, validated form of a definition that an executor runs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kind::NodeKind;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutionPlan {
    pub trigger: PlanNode,
    /// Every node reachable from the trigger, the trigger excluded, in topological order
    /// (ties broken by document order).
    pub nodes: Vec<PlanNode>,
    #[serde(default, skip_serializing_if = "super::WorkflowSettings::is_default")]
    pub settings: super::WorkflowSettings,
}

impl ExecutionPlan {
    /// The trigger or a step by node id.
    pub fn node(&self, id: &str) -> Option<&PlanNode> {
        std::iter::once(&self.trigger)
            .chain(&self.nodes)
            .find(|n| n.id == id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanNode {
    pub id: String,
    pub node_type: NodeKind,
    pub label: String,
    /// The node's own config, the step policy keys taken out.
    pub config: Value,
    pub policy: StepPolicy,
    /// Ids of the planned nodes with an edge into this one, each once.
    pub incoming: Vec<String>,
    pub outgoing: Vec<PlanEdge>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanEdge {
    /// `None` is the default output.
    pub handle: Option<String>,
    pub target: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepPolicy {
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub on_error: OnError,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    #[serde(default)]
    pub max_delay_ms: Option<u64>,
    #[serde(default)]
    pub jitter: bool,
}

fn default_delay_ms() -> u64 {
    1000
}

/// Jitter moves a delay by up to this share of it, either way (in 1/10_000).
const JITTER_SPREAD: u64 = 2_000;

impl RetryPolicy {
    /// How long to wait after attempt `attempt` (1-based) failed.
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let attempt = attempt.max(1);
        let base = match self.backoff {
            Backoff::Fixed => self.delay_ms,
            Backoff::Linear => self.delay_ms.saturating_mul(u64::from(attempt)),
            Backoff::Exponential => {
                let factor = 1u64.checked_shl(attempt - 1).unwrap_or(u64::MAX);
                self.delay_ms.saturating_mul(factor)
            }
        };
        let jittered = if self.jitter { jitter(base) } else { base };
        let capped = self.max_delay_ms.map_or(jittered, |max| jittered.min(max));
        Duration::from_millis(capped)
    }
}

/// Moves `ms` by up to +-20%; spreading retries needs no real randomness, so the clock's
/// nanoseconds are enough.
fn jitter(ms: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or_default();
    let offset = nanos % (2 * JITTER_SPREAD + 1); // 0..=4000
    let scaled = u128::from(ms) * u128::from(10_000 - JITTER_SPREAD + offset) / 10_000;
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    #[default]
    Fixed,
    Linear,
    Exponential,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Fail,
    Continue,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff, max_delay_ms: Option<u64>, jitter: bool) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            backoff,
            delay_ms: 100,
            max_delay_ms,
            jitter,
        }
    }

    fn ms(p: &RetryPolicy, attempt: u32) -> u128 {
        p.delay_for(attempt).as_millis()
    }

    #[test]
    fn delay_per_backoff() {
        let fixed = policy(Backoff::Fixed, None, false);
        assert_eq!(
            [ms(&fixed, 1), ms(&fixed, 2), ms(&fixed, 5)],
            [100, 100, 100]
        );
        let linear = policy(Backoff::Linear, None, false);
        assert_eq!(
            [ms(&linear, 1), ms(&linear, 2), ms(&linear, 5)],
            [100, 200, 500]
        );
        let exp = policy(Backoff::Exponential, None, false);
        assert_eq!(
            [ms(&exp, 1), ms(&exp, 2), ms(&exp, 3), ms(&exp, 5)],
            [100, 200, 400, 1600]
        );
        assert_eq!(ms(&exp, 0), 100, "attempt 0 is treated as the first");
        assert_eq!(
            exp.delay_for(200),
            Duration::from_millis(u64::MAX),
            "saturates, no overflow"
        );
    }

    #[test]
    fn delay_is_capped() {
        let exp = policy(Backoff::Exponential, Some(300), false);
        assert_eq!(
            [ms(&exp, 1), ms(&exp, 2), ms(&exp, 3), ms(&exp, 9)],
            [100, 200, 300, 300]
        );
        let linear = policy(Backoff::Linear, Some(250), true);
        for _ in 0..50 {
            assert!(ms(&linear, 4) <= 250);
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = RetryPolicy {
            delay_ms: 10_000,
            ..policy(Backoff::Fixed, None, true)
        };
        for _ in 0..200 {
            let d = ms(&p, 1);
            assert!((8_000..=12_000).contains(&d), "{d}");
        }
    }

    #[test]
    fn policy_json_shape() {
        let p: StepPolicy = serde_json::from_value(serde_json::json!({
            "retry": {"max_attempts": 3, "backoff": "exponential", "delay_ms": 50},
            "on_error": "continue"
        }))
        .unwrap();
        assert_eq!(p.on_error, OnError::Continue);
        assert_eq!(
            p.retry.as_ref().map(|r| r.backoff),
            Some(Backoff::Exponential)
        );
        assert_eq!(p.timeout_ms, None);
        assert_eq!(StepPolicy::default().on_error, OnError::Fail);
    }
}
