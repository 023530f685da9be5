//! The gateway: the public HTTP API. It owns identity (users, tokens), routes
//! the rest of the API to the services, merges their OpenAPI documents and
//! serves the webhook entry point.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod caller;
pub mod cors;
pub mod docs;
pub mod limits;
pub mod live;
pub mod openapi;
pub mod proxy;
pub mod routes;
pub mod screen;
pub mod settings;
pub mod startup;
pub mod store;

pub use settings::Settings;
pub use startup::Application;
