//! executor: runs ExecutionJobs step by step, records every step's input,
//! output, attempts and duration, and serves the executions API.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod analytics;
pub mod background;
pub mod consumers;
pub mod engine;
pub mod jobs;
pub mod openapi;
pub mod responses;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod store;
pub mod updates;

pub use settings::Settings;
pub use startup::Application;
