//! integrations: OAuth2 connections to Slack, HubSpot, Google Sheets and
//! Salesforce with tokens encrypted at rest, refresh, per-connection rate
//! limits, and the provider actions the executor calls.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod actions;
pub mod calls;
pub mod error;
pub mod events;
pub mod oauth;
pub mod openapi;
pub mod provider;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod tokens;

pub use settings::Settings;
pub use startup::Application;
pub use tokens::keyring::Keyring;
pub use tokens::rotation::{reencrypt_all, reencrypt_from_settings};
