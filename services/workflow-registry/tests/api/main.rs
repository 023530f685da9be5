//! Run with: cargo test -p echoflow-workflow-registry --test api
#![allow(clippy::unwrap_used)]

mod events;
mod helpers;
mod versions;
mod webhooks;
mod workflows;
