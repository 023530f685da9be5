use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Executions {
    Table,
    Id,
    WorkflowId,
    WorkflowVersion,
    OwnerId,
    ChatbotId,
    Status,
    Trigger,
    Plan,
    Error,
    RetryOf,
    QueuedAt,
    StartedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum ExecutionSteps {
    Table,
    ExecutionId,
    NodeId,
    Seq,
    NodeType,
    Status,
    Attempts,
    Input,
    Output,
    Error,
    StartedAt,
    CompletedAt,
    DurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Executions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Executions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Executions::WorkflowId).uuid().not_null())
                    .col(
                        ColumnDef::new(Executions::WorkflowVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Executions::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Executions::ChatbotId).uuid().not_null())
                    .col(ColumnDef::new(Executions::Status).string().not_null())
                    .col(ColumnDef::new(Executions::Trigger).json_binary().not_null())
                    .col(ColumnDef::new(Executions::Plan).json_binary().null())
                    .col(ColumnDef::new(Executions::Error).text().null())
                    .col(ColumnDef::new(Executions::RetryOf).uuid().null())
                    .col(
                        ColumnDef::new(Executions::QueuedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Executions::StartedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Executions::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("executions_owner_queued", Executions::OwnerId),
            ("executions_workflow", Executions::WorkflowId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Executions::Table)
                        .col(col)
                        .col(Executions::QueuedAt)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ExecutionSteps::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ExecutionSteps::ExecutionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ExecutionSteps::NodeId).string().not_null())
                    .col(ColumnDef::new(ExecutionSteps::Seq).integer().not_null())
                    .col(ColumnDef::new(ExecutionSteps::NodeType).string().not_null())
                    .col(ColumnDef::new(ExecutionSteps::Status).string().not_null())
                    .col(
                        ColumnDef::new(ExecutionSteps::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ExecutionSteps::Input).json_binary().null())
                    .col(ColumnDef::new(ExecutionSteps::Output).json_binary().null())
                    .col(ColumnDef::new(ExecutionSteps::Error).text().null())
                    .col(
                        ColumnDef::new(ExecutionSteps::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExecutionSteps::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ExecutionSteps::DurationMs)
                            .big_integer()
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ExecutionSteps::ExecutionId)
                            .col(ExecutionSteps::NodeId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExecutionSteps::Table, ExecutionSteps::ExecutionId)
                            .to(Executions::Table, Executions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        crate::common::create_messaging_tables(manager).await
    }
}
