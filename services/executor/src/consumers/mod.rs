//! Bus consumers of the executor.

pub mod chatbot_events;
pub mod jobs;
