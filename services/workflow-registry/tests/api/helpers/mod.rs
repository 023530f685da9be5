//! Run with: cargo test -p echoflow-workflow-registry --test api
//!
//! `spawn_app()` starts the real registry on port 0 with a fresh PostgreSQL
//! database, an in-process bus and a wiremock executor that receives
//! announcements, next to the real chat service (the same database, its own
//! schema, the same bus), which owns the chatbots workflows belong to.
//! `spawn_app_on_sqlite()` runs the same on temp SQLite files (the embedded
//! mode's database).
//! `TEST_LOG=1` turns logs on.

mod app;
mod definitions;
mod requests;

pub use app::*;
pub use definitions::*;
pub use requests::*;
