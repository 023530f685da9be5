//! Run with: cargo test -p echoflow-integrations --test api
#![allow(clippy::unwrap_used)]

mod actions;
mod connect;
mod helpers;
mod limits;
mod ownership;
mod revoke;
mod rotation;
mod tokens;
mod validation;
