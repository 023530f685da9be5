//! Text analysis for the chat service: sentiment, FAQ retrieval and intent detection.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod intent;
pub mod retrieval;
mod score;
pub mod sentiment;
pub mod text;
