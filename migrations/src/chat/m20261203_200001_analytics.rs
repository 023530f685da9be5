//! Analytics for the chat slice: the rollup tables, and the indexes the
//! overview and the roller read by (a chatbot's messages and conversations
//! by time; every message by time, for rolling up one hour).

use sea_orm_migration::prelude::*;

use crate::analytics::{create_rollup_tables, drop_rollup_tables, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_rollup_tables(manager).await?;
        for (name, table, cols) in INDEXES {
            manager.create_index(index(name, table, cols)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        drop_rollup_tables(manager).await
    }
}
