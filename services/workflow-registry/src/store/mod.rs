//! The registry slice: entities and queries.

pub mod firings;
pub mod triggers;
pub mod versions;
pub mod webhooks;
pub mod workflows;
