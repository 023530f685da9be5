//! What every echoflow service shares: settings, telemetry, the HTTP bootstrap, errors, auth, health and metrics.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod allowed_origin;
pub mod auth;
pub mod bus;
pub mod db;
pub mod error;
pub mod health;
pub mod http;
pub mod internal_client;
pub mod metrics;
pub mod pagination;
pub mod query_credentials;
pub mod server;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod strong_secrets;
pub mod telemetry;
pub mod unmatched;

pub use auth::{AuthUser, InternalCaller, JwtKeys};
pub use error::{ApiError, ErrorCode};
pub use internal_client::InternalClient;
pub use pagination::Pagination;
pub use server::HttpService;
pub use service::{Service, serve_from_env};
pub use settings::{CommonSettings, load_settings};
