//! Harness of the cross-service end-to-end tests: real `echoflow` processes
//! against real PostgreSQL and RabbitMQ (a fresh database and vhost per
//! test), or `echoflow up` on a temp folder; outside services faked with
//! wiremock on loopback.
#![allow(clippy::unwrap_used)]

pub mod api;
pub mod conversation;
pub mod events;
pub mod infra;
pub mod integrations;
pub mod process;
pub mod scenarios;

pub use api::Api;
pub use infra::{PgDatabase, TestDb, TestVhost};
pub use process::{Service, echoflow_binary, free_port};
