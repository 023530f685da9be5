//! Schedules of `trigger.schedule` workflows (when each fires next), and the
//! lease row by which one registry replica on SQLite leads the scheduler
//! (PostgreSQL uses an advisory lock instead).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    WorkflowId,
    Cron,
    Timezone,
    NextFireAt,
    LastFiredAt,
    IsActive,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SchedulerLock {
    Table,
    Name,
    Holder,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Schedules::WorkflowId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Schedules::Cron).string().not_null())
                    .col(ColumnDef::new(Schedules::Timezone).string().not_null())
                    // Null when the expression has no occurrence left.
                    .col(
                        ColumnDef::new(Schedules::NextFireAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Schedules::LastFiredAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Schedules::IsActive).boolean().not_null())
                    .col(
                        ColumnDef::new(Schedules::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Schedules::Table, Schedules::WorkflowId)
                            .to(Workflows::Table, Workflows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("schedules_due")
                    .table(Schedules::Table)
                    .col(Schedules::IsActive)
                    .col(Schedules::NextFireAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SchedulerLock::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SchedulerLock::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SchedulerLock::Holder).string().not_null())
                    .col(
                        ColumnDef::new(SchedulerLock::LeaseUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SchedulerLock::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Schedules::Table).to_owned())
            .await
    }
}
