//! Run with: cargo test -p echoflow-gateway --test api
#![allow(clippy::unwrap_used)]

mod executions_stream;
mod health;
mod helpers;
mod identity;
mod limits;
mod paths;
mod routing;
