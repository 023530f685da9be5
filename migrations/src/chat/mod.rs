//! The chat slice, owned by chat: chatbots, their FAQs and intents, external
//! users, conversation sessions, messages and conversation tags.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_chat;
mod m20261203_200001_analytics;

pub struct ChatMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ChatMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_chat::Migration),
            Box::new(m20261203_200001_analytics::MIGRATION),
            Box::new(crate::analytics::DailyRollups),
        ]
    }
}
