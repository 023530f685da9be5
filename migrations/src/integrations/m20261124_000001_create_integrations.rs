use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connections {
    Table,
    Id,
    OwnerId,
    Provider,
    Name,
    Account,
    Status,
    StatusReason,
    Scopes,
    ProviderConfig,
    KeyId,
    AccessToken,
    RefreshToken,
    TokenVersion,
    ExpiresAt,
    LastRefreshedAt,
    BlockedUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Id,
    StateHash,
    UserId,
    Provider,
    KeyId,
    PkceVerifier,
    RedirectUri,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn at_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table).if_not_exists();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Tokens are AES-256-GCM ciphertexts (base64 of nonce || ciphertext)
        // under the key `key_id`; `token_version` grows with every token
        // change so two replicas never both spend one refresh token.
        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Connections::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Connections::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Connections::Provider).string().not_null())
                    .col(ColumnDef::new(Connections::Name).string().null())
                    .col(ColumnDef::new(Connections::Account).string().null())
                    .col(ColumnDef::new(Connections::Status).string().not_null())
                    .col(ColumnDef::new(Connections::StatusReason).text().null())
                    .col(ColumnDef::new(Connections::Scopes).json().not_null())
                    .col(
                        ColumnDef::new(Connections::ProviderConfig)
                            .json()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Connections::KeyId).string().not_null())
                    .col(ColumnDef::new(Connections::AccessToken).text().not_null())
                    .col(ColumnDef::new(Connections::RefreshToken).text().null())
                    .col(
                        ColumnDef::new(Connections::TokenVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(at_null(Connections::ExpiresAt))
                    .col(at_null(Connections::LastRefreshedAt))
                    .col(at_null(Connections::BlockedUntil))
                    .col(at(Connections::CreatedAt))
                    .col(at(Connections::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "connections_owner",
                Connections::Table,
                &["owner_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "connections_key_id",
                Connections::Table,
                &["key_id"],
                false,
            ))
            .await?;
        // Only a hash of the state is stored; the PKCE verifier is encrypted.
        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OauthStates::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OauthStates::StateHash).string().not_null())
                    .col(ColumnDef::new(OauthStates::UserId).uuid().not_null())
                    .col(ColumnDef::new(OauthStates::Provider).string().not_null())
                    .col(ColumnDef::new(OauthStates::KeyId).string().not_null())
                    .col(ColumnDef::new(OauthStates::PkceVerifier).text().not_null())
                    .col(ColumnDef::new(OauthStates::RedirectUri).text().not_null())
                    .col(at(OauthStates::ExpiresAt))
                    .col(at_null(OauthStates::UsedAt))
                    .col(at(OauthStates::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "oauth_states_state_hash",
                OauthStates::Table,
                &["state_hash"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "oauth_states_expires_at",
                OauthStates::Table,
                &["expires_at"],
                false,
            ))
            .await?;
        crate::common::create_messaging_tables(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Alias::new("oauth_states"), Alias::new("connections")] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
