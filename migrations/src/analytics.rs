//! The analytics rollup tables a slice keeps beside its raw rows (hourly
//! counts and the watermark of what is rolled up), and an index helper.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum AnalyticsHourly {
    Table,
    OwnerId,
    Hour,
    ChatbotId,
    Metric,
    Dimension,
    Count,
    Total,
}

#[derive(DeriveIden)]
enum AnalyticsWatermark {
    Table,
    Name,
    RolledUntil,
}

/// Creates `analytics_hourly` (keyed so that one owner's range is one index
/// range) and `analytics_watermark`.
pub async fn create_rollup_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AnalyticsHourly::Table)
                .if_not_exists()
                .col(ColumnDef::new(AnalyticsHourly::OwnerId).uuid().not_null())
                .col(
                    ColumnDef::new(AnalyticsHourly::Hour)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(AnalyticsHourly::ChatbotId).uuid().not_null())
                .col(ColumnDef::new(AnalyticsHourly::Metric).string().not_null())
                .col(
                    ColumnDef::new(AnalyticsHourly::Dimension)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AnalyticsHourly::Count)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(AnalyticsHourly::Total).double().not_null())
                .primary_key(
                    Index::create()
                        .col(AnalyticsHourly::OwnerId)
                        .col(AnalyticsHourly::Hour)
                        .col(AnalyticsHourly::ChatbotId)
                        .col(AnalyticsHourly::Metric)
                        .col(AnalyticsHourly::Dimension),
                )
                .to_owned(),
        )
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
pub async fn drop_rollup_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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

/// A plain index on `table(cols)`.
pub fn index(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(Alias::new(table)).if_not_exists();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}
