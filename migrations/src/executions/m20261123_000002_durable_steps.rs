//! Durable waits (retries, delays, concurrency), dead letters, and the
//! step inputs a retry may override.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Executions {
    Table,
    StepInputs,
}

#[derive(DeriveIden)]
enum Wakeups {
    Table,
    ExecutionId,
    WorkflowId,
    DueAt,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    ExecutionId,
    OwnerId,
    WorkflowId,
    WorkflowVersion,
    FailedStep,
    Input,
    Error,
    Attempts,
    Reason,
    Payload,
    CreatedAt,
    ReplayedAt,
    ReplayExecutionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Executions::Table)
                    .add_column(ColumnDef::new(Executions::StepInputs).json().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Wakeups::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Wakeups::ExecutionId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Wakeups::WorkflowId).uuid().not_null())
                    .col(
                        ColumnDef::new(Wakeups::DueAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Wakeups::Reason).string().not_null())
                    .col(
                        ColumnDef::new(Wakeups::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("wakeups_due_at")
                    .table(Wakeups::Table)
                    .col(Wakeups::DueAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("wakeups_workflow")
                    .table(Wakeups::Table)
                    .col(Wakeups::WorkflowId)
                    .col(Wakeups::Reason)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeadLetters::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeadLetters::ExecutionId).uuid().null())
                    .col(ColumnDef::new(DeadLetters::OwnerId).uuid().null())
                    .col(ColumnDef::new(DeadLetters::WorkflowId).uuid().null())
                    .col(
                        ColumnDef::new(DeadLetters::WorkflowVersion)
                            .integer()
                            .null(),
                    )
                    .col(ColumnDef::new(DeadLetters::FailedStep).string().null())
                    .col(ColumnDef::new(DeadLetters::Input).json().null())
                    .col(ColumnDef::new(DeadLetters::Error).text().not_null())
                    .col(ColumnDef::new(DeadLetters::Attempts).integer().not_null())
                    .col(ColumnDef::new(DeadLetters::Reason).string().not_null())
                    .col(ColumnDef::new(DeadLetters::Payload).binary().null())
                    .col(
                        ColumnDef::new(DeadLetters::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeadLetters::ReplayedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(DeadLetters::ReplayExecutionId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dead_letters_owner_created")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::OwnerId)
                    .col(DeadLetters::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Alias::new("dead_letters"), Alias::new("wakeups")] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
