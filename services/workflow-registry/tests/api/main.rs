//! Run with: cargo test -p echoflow-workflow-registry --test api
#![allow(clippy::unwrap_used)]

mod events;
mod helpers;
mod webhooks;
mod workflows;
