//! workflow-registry: workflows and their immutable versions, the trigger
//! index, webhook tokens, schedules; turns triggers (webhooks, manual runs,
//! events on the bus, schedules) into ExecutionJobs.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod chatbots;
pub mod consumers;
pub mod jobs;
pub mod openapi;
pub mod routes;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod settings;
pub mod signature;
pub mod startup;
pub mod store;
pub mod templates;

pub use settings::Settings;
pub use startup::Application;
