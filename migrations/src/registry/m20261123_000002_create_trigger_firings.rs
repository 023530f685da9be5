//! Debounce state of conversation triggers: when each workflow last fired
//! for each conversation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TriggerFirings {
    Table,
    WorkflowId,
    ConversationKey,
    FiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TriggerFirings::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(TriggerFirings::WorkflowId).uuid().not_null())
                    .col(
                        ColumnDef::new(TriggerFirings::ConversationKey)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TriggerFirings::FiredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(TriggerFirings::WorkflowId)
                            .col(TriggerFirings::ConversationKey),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TriggerFirings::Table, TriggerFirings::WorkflowId)
                            .to(Workflows::Table, Workflows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TriggerFirings::Table).to_owned())
            .await
    }
}
