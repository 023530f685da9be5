//! The gateway's own routes: identity.

pub mod auth;
pub mod users;
