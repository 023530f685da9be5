//! What every node handler is given and gives back: which step runs, and
//! how it failed (the class decides whether it is tried again).

use serde_json::Value;
use std::time::Duration;

/// Which step of which execution is running.
#[derive(Debug, Clone, Copy)]
pub struct StepScope<'a> {
    /// `<execution_id>:<node_id>`: stable across attempts and redeliveries
    /// (the HTTP `Idempotency-Key`).
    pub key: &'a str,
    /// The chatbot the execution's workflow belongs to.
    pub chatbot_id: uuid::Uuid,
    /// The user the execution's workflow belongs to (whose connections it may use).
    pub owner_id: uuid::Uuid,
    /// An input given for this step by a retry, used instead of its config.
    pub input_override: Option<&'a Value>,
}

/// How a step failed; the class decides whether and when it is tried again.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Connect errors, timeouts, 5xx: exponential backoff, 3 retries by default.
    #[error("{0}")]
    Transient(String),
    /// 429: after `retry_after` when the server said, else linear backoff with jitter.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 401 from an integration: one retry, after the token is refreshed.
    #[error("{0}")]
    Unauthorized(String),
    /// A bad config or expression, other 4xx: another attempt would fail the
    /// same way, so it fails at once.
    #[error("{0}")]
    Permanent(String),
}

impl NodeError {
    /// The class as recorded with the step.
    pub fn class(&self) -> &'static str {
        match self {
            NodeError::Transient(_) => "transient",
            NodeError::RateLimited { .. } => "rate_limit",
            NodeError::Unauthorized(_) => "authentication",
            NodeError::Permanent(_) => "configuration",
        }
    }
}
