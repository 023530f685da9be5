//! Run with: cargo test -p echoflow-workflow-registry --test api
#![allow(clippy::unwrap_used)]

mod conversation_triggers;
mod conversation_triggers_distributed;
mod events;
mod helpers;
mod versions;
mod webhooks;
mod workflows;
