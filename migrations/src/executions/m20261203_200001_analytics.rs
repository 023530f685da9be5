//! Analytics for the executions slice: the rollup tables, and the indexes
//! the overview and the roller read by (an owner's executions by end time and
//! by status; every execution by end time, for rolling up one hour).

use sea_orm_migration::prelude::*;

use crate::analytics::{create_rollup_tables, drop_rollup_tables, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &[&str]); 3] = [
    (
        "executions_owner_completed",
        "executions",
        &["owner_id", "completed_at"],
    ),
    ("executions_completed", "executions", &["completed_at"]),
    (
        "executions_owner_status",
        "executions",
        &["owner_id", "status", "queued_at"],
    ),
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
