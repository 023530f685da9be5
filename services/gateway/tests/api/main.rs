//! Run with: cargo test -p echoflow-gateway --test api
#![allow(clippy::unwrap_used)]

mod analytics;
mod cors;
mod event_stream_proxy;
mod executions_stream;
mod health;
mod helpers;
mod identity;
mod limits;
mod openapi_cache;
mod paths;
mod routing;
