//! Run with: cargo test -p echoflow-gateway --test api
#![allow(clippy::unwrap_used)]

mod health;
mod helpers;
mod identity;
mod routing;
