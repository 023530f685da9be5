//! Analytics for the chat slice: the rollup tables, and the indexes the
//! overview and the roller read by (a chatbot's messages and conversations
//! by time; every message by time, for rolling up one hour).

use crate::analytics::Rollups;

pub const MIGRATION: Rollups = Rollups {
    name: "m20261203_200001_analytics",
    indexes: &INDEXES,
};

const INDEXES: [(&str, &str, &[&str]); 4] = [
    (
        "messages_chatbot_created",
        "messages",
        &["chatbot_id", "created_at"],
    ),
    ("messages_created", "messages", &["created_at"]),
    (
        "sessions_chatbot_started",
        "conversation_sessions",
        &["chatbot_id", "started_at"],
    ),
    ("sessions_started", "conversation_sessions", &["started_at"]),
];
