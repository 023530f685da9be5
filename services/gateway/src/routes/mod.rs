//! The gateway's own routes: identity and the live execution stream.

pub mod analytics;
pub mod auth;
pub mod executions;
pub mod users;
