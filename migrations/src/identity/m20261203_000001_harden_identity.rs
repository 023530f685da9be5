//! Token families, revoked access tokens and the login/registration rate counters.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    FamilyId,
}

#[derive(DeriveIden)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RateCounters {
    Table,
    Bucket,
    WindowStart,
    Hits,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Every refresh token descending from one sign-in shares its family;
        // tokens issued before this migration have none and stand alone.
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(ColumnDef::new(RefreshTokens::FamilyId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "refresh_tokens_family",
                RefreshTokens::Table,
                RefreshTokens::FamilyId,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RevokedAccessTokens::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RevokedAccessTokens::Jti)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RevokedAccessTokens::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "revoked_access_tokens_expiry",
                RevokedAccessTokens::Table,
                RevokedAccessTokens::ExpiresAt,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RateCounters::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(RateCounters::Bucket).string().not_null())
                    .col(
                        ColumnDef::new(RateCounters::WindowStart)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RateCounters::Hits).integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(RateCounters::Bucket)
                            .col(RateCounters::WindowStart),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "rate_counters_window",
                RateCounters::Table,
                RateCounters::WindowStart,
            ))
            .await
    }
}

/// A one-column index, created unless it exists.
fn index(name: &str, table: impl IntoIden, col: impl IntoIden) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(table)
        .col(col)
        .if_not_exists()
        .to_owned()
}
