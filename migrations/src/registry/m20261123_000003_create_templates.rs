//! The template library: workflow templates seeded from the files in
//! `services/workflow-registry/templates/` at every start.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    Name,
    Category,
    Description,
    Params,
    FlowDefinition,
    ContentHash,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Templates::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Templates::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Templates::Name).string().not_null())
                    .col(ColumnDef::new(Templates::Category).string().not_null())
                    .col(ColumnDef::new(Templates::Description).text().not_null())
                    .col(ColumnDef::new(Templates::Params).json_binary().not_null())
                    .col(
                        ColumnDef::new(Templates::FlowDefinition)
                            .json_binary()
                            .not_null(),
                    )
                    // Lets a start skip rewriting templates whose file did not change.
                    .col(ColumnDef::new(Templates::ContentHash).string().not_null())
                    .col(
                        ColumnDef::new(Templates::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("templates_category")
                    .table(Templates::Table)
                    .col(Templates::Category)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Templates::Table).to_owned())
            .await
    }
}
