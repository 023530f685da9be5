//! The analytics rollup tables a slice keeps beside its raw rows (hourly and
//! daily counts, and the watermarks of what is rolled up), and an index helper.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum AnalyticsWatermark {
    Table,
    Name,
    RolledUntil,
}

/// A rollup table: counts and sums per owner, start (`start`: an hour or a
/// day), chatbot, metric and dimension, keyed so that one owner's range is
/// one index range.
fn rollup_table(table: &str, start: &str) -> TableCreateStatement {
    let col = |name: &str| ColumnDef::new(Alias::new(name)).not_null().to_owned();
    Table::create()
        .table(Alias::new(table))
        .if_not_exists()
        .col(col("owner_id").uuid())
        .col(col(start).timestamp_with_time_zone())
        .col(col("chatbot_id").uuid())
        .col(col("metric").string())
        .col(col("dimension").string())
        .col(col("count").big_integer())
        .col(col("total").double())
        .primary_key(
            Index::create()
                .col(Alias::new("owner_id"))
                .col(Alias::new(start))
                .col(Alias::new("chatbot_id"))
                .col(Alias::new("metric"))
                .col(Alias::new("dimension")),
        )
        .to_owned()
}

/// Creates `analytics_hourly` and `analytics_watermark`.
async fn create_rollup_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(rollup_table("analytics_hourly", "hour"))
        .await?;
    manager
        .create_table(
            Table::create()
                .table(AnalyticsWatermark::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AnalyticsWatermark::Name)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AnalyticsWatermark::RolledUntil)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
}

/// Drops both tables.
async fn drop_rollup_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for table in ["analytics_hourly", "analytics_watermark"] {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(table))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// A slice's first analytics migration: the hourly rollup tables and the
/// indexes (name, table, columns) its overview and roller read by.
pub struct Rollups {
    pub name: &'static str,
    pub indexes: &'static [(&'static str, &'static str, &'static [&'static str])],
}

impl MigrationName for Rollups {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Rollups {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_rollup_tables(manager).await?;
        for (name, table, cols) in self.indexes {
            manager.create_index(index(name, table, cols)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in self.indexes {
            manager
                .drop_index(
                    Index::drop()
                        .name(*name)
                        .table(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
        }
        drop_rollup_tables(manager).await
    }
}

/// The daily tier of the rollups (`analytics_daily`, one row per UTC day
/// instead of per hour), the same migration in every slice that has rollups.
/// Its roller fills it from the hourly rows already there.
pub struct DailyRollups;

impl MigrationName for DailyRollups {
    fn name(&self) -> &str {
        "m20261204_000001_analytics_daily"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DailyRollups {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(rollup_table("analytics_daily", "day"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new("analytics_daily"))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// A plain index on `table(cols)`.
fn index(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(Alias::new(table)).if_not_exists();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}
