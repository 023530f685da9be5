//! The identity slice: entities and queries.

pub mod audit;
pub mod rate_counters;
pub mod refresh_tokens;
pub mod revoked_tokens;
pub mod users;
