//! workflow-registry: workflows and their immutable versions, the trigger
//! index, webhook tokens, schedules; turns triggers (webhooks, manual runs,
//! events on the bus, schedules) into ExecutionJobs.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod consumers;
pub mod cron;
pub mod jobs;
pub mod lifecycle;
pub mod openapi;
pub mod ownership;
pub mod responses;
pub mod routes;
pub mod scheduler;
pub mod settings;
pub mod startup;
pub mod store;
pub mod templates;
pub mod webhook_secrets;
pub mod webhook_signature;

pub use settings::Settings;
pub use startup::Application;
