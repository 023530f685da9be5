//! The user journeys of the cross-service end-to-end suite (`tests/tests`):
//! real `echoflow` processes against real PostgreSQL and RabbitMQ (a fresh
//! database and vhost per test), or `echoflow up` on a temp folder; outside
//! services faked with wiremock on loopback. The harness they run on
//! (processes, databases, the API client) is `echoflow-test-support`.
#![allow(clippy::unwrap_used)]

pub mod analytics;
pub mod chatbot_lifecycle;
pub mod conversation;
pub mod cors;
pub mod integrations;
pub mod scenarios;
pub mod session_stream;
pub mod sync_webhooks;
