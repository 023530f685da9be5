//! chat: chatbots with their FAQs and intents, conversations and their
//! memory, replies (an OpenAI-compatible provider or the built-in FAQ
//! responder), sentiment and intent per message, and the conversation events
//! that start workflows.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod analytics;
pub mod api_key;
pub mod appearance;
pub mod chatbot;
pub mod events;
pub mod lifecycle;
pub mod live;
pub mod openapi;
pub mod origin;
pub mod responder;
pub mod routes;
pub mod session_token;
pub mod settings;
pub mod startup;
pub mod store;
pub mod stream_guard;

pub use settings::Settings;
pub use startup::Application;
