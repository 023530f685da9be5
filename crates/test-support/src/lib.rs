//! What the tests share: a fresh PostgreSQL database and RabbitMQ vhost per
//! test, the events a service under test publishes, the real `echoflow`
//! binary as a process, a client of the public API, reading its answers and
//! asserting its error bodies, and (feature `chat`) the real chat service in
//! this process. The services' API tests, the end-to-end suite (`tests/`)
//! and the benchmarks depend on it; it depends on no service except chat,
//! and on chat only with that feature.
#![allow(clippy::unwrap_used)]

pub mod api;
#[cfg(feature = "chat")]
pub mod chat;
pub mod events;
pub mod infra;
pub mod process;
pub mod responses;
pub mod sse;

pub use api::Api;
pub use infra::{PgDatabase, TestDatabase, TestDb, TestVhost};
pub use process::{Service, echoflow_binary, free_port};
pub use responses::{assert_error, assert_invalid, read};
