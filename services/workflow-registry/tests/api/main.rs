//! Run with: cargo test -p echoflow-workflow-registry --test api
#![allow(clippy::unwrap_used)]

mod audit;
mod conversation_triggers;
mod conversation_triggers_distributed;
mod dedupe;
mod events;
mod expressions;
mod graph_limits;
mod helpers;
mod lifecycle;
mod methods;
mod request_bodies;
mod schedules;
mod secrets;
mod signatures;
mod sync_webhooks;
mod templates;
mod versions;
mod webhooks;
mod workflows;
