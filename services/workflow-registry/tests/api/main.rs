//! Run with: cargo test -p echoflow-workflow-registry --test api
#![allow(clippy::unwrap_used)]

mod audit;
mod conversation_triggers;
mod conversation_triggers_distributed;
mod dedupe;
mod events;
mod expressions;
mod helpers;
mod schedules;
mod templates;
mod versions;
mod webhooks;
mod workflows;
