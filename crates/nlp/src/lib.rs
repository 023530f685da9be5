//! Text analysis for the chat service: sentiment, FAQ retrieval and intent detection.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod intent;
pub mod retrieval;
pub mod sentiment;
pub mod text;

/// Rounds to 4 decimals so scores serialise compactly and compare stably in tests.
pub(crate) fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}
