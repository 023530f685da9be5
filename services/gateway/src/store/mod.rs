//! The identity slice: entities and queries.

pub mod audit;
pub mod refresh_tokens;
pub mod users;
