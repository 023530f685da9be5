//! The registry slice: entities and queries.

pub mod audit;
pub mod deliveries;
pub mod firings;
pub mod scheduler_lock;
pub mod schedules;
pub mod templates;
pub mod triggers;
pub mod versions;
pub mod webhooks;
pub mod workflows;
