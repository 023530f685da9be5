use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chatbots {
    Table,
    Id,
    OwnerId,
    Name,
    WelcomeMessage,
    Settings,
    ApiKeyHash,
    ApiKeyPrefix,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Faqs {
    Table,
    Id,
    ChatbotId,
    Question,
    Answer,
    Category,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Intents {
    Table,
    Id,
    ChatbotId,
    Name,
    Examples,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExternalUsers {
    Table,
    Id,
    ChatbotId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConversationSessions {
    Table,
    Id,
    ChatbotId,
    ExternalUserId,
    UserEmail,
    MessageCount,
    StartedAt,
    LastMessageAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    SessionId,
    ChatbotId,
    Role,
    Content,
    Source,
    SentimentScore,
    SentimentLabel,
    Intent,
    IntentConfidence,
    IdempotencyKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConversationTags {
    Table,
    SessionId,
    Tag,
    MessageId,
    CreatedAt,
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
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
        manager
            .create_table(
                Table::create()
                    .table(Chatbots::Table)
                    .if_not_exists()
                    .col(id(Chatbots::Id))
                    .col(ColumnDef::new(Chatbots::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Chatbots::Name).string().not_null())
                    .col(ColumnDef::new(Chatbots::WelcomeMessage).text().null())
                    .col(ColumnDef::new(Chatbots::Settings).json().not_null())
                    .col(ColumnDef::new(Chatbots::ApiKeyHash).string().not_null())
                    .col(ColumnDef::new(Chatbots::ApiKeyPrefix).string().not_null())
                    .col(at(Chatbots::CreatedAt))
                    .col(at(Chatbots::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "chatbots_api_key_hash",
                Chatbots::Table,
                &["api_key_hash"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "chatbots_owner",
                Chatbots::Table,
                &["owner_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Faqs::Table)
                    .if_not_exists()
                    .col(id(Faqs::Id))
                    .col(ColumnDef::new(Faqs::ChatbotId).uuid().not_null())
                    .col(ColumnDef::new(Faqs::Question).text().not_null())
                    .col(ColumnDef::new(Faqs::Answer).text().not_null())
                    .col(ColumnDef::new(Faqs::Category).string().null())
                    .col(at(Faqs::CreatedAt))
                    .col(at(Faqs::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Faqs::Table, Faqs::ChatbotId)
                            .to(Chatbots::Table, Chatbots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("faqs_chatbot", Faqs::Table, &["chatbot_id"], false))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Intents::Table)
                    .if_not_exists()
                    .col(id(Intents::Id))
                    .col(ColumnDef::new(Intents::ChatbotId).uuid().not_null())
                    .col(ColumnDef::new(Intents::Name).string().not_null())
                    .col(ColumnDef::new(Intents::Examples).json().not_null())
                    .col(at(Intents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Intents::Table, Intents::ChatbotId)
                            .to(Chatbots::Table, Chatbots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "intents_chatbot_name",
                Intents::Table,
                &["chatbot_id", "name"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalUsers::Table)
                    .if_not_exists()
                    .col(id(ExternalUsers::Id))
                    .col(ColumnDef::new(ExternalUsers::ChatbotId).uuid().not_null())
                    .col(ColumnDef::new(ExternalUsers::Email).string().not_null())
                    .col(at(ExternalUsers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExternalUsers::Table, ExternalUsers::ChatbotId)
                            .to(Chatbots::Table, Chatbots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "external_users_chatbot_email",
                ExternalUsers::Table,
                &["chatbot_id", "email"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConversationSessions::Table)
                    .if_not_exists()
                    .col(id(ConversationSessions::Id))
                    .col(
                        ColumnDef::new(ConversationSessions::ChatbotId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConversationSessions::ExternalUserId)
                            .uuid()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ConversationSessions::UserEmail)
                            .string()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ConversationSessions::MessageCount)
                            .integer()
                            .not_null(),
                    )
                    .col(at(ConversationSessions::StartedAt))
                    .col(at(ConversationSessions::LastMessageAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConversationSessions::Table, ConversationSessions::ChatbotId)
                            .to(Chatbots::Table, Chatbots::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "sessions_chatbot_recent",
                ConversationSessions::Table,
                &["chatbot_id", "last_message_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "sessions_chatbot_email",
                ConversationSessions::Table,
                &["chatbot_id", "user_email"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(id(Messages::Id))
                    .col(ColumnDef::new(Messages::SessionId).uuid().not_null())
                    .col(ColumnDef::new(Messages::ChatbotId).uuid().not_null())
                    .col(ColumnDef::new(Messages::Role).string().not_null())
                    .col(ColumnDef::new(Messages::Content).text().not_null())
                    .col(ColumnDef::new(Messages::Source).string().not_null())
                    .col(ColumnDef::new(Messages::SentimentScore).double().null())
                    .col(ColumnDef::new(Messages::SentimentLabel).string().null())
                    .col(ColumnDef::new(Messages::Intent).string().null())
                    .col(ColumnDef::new(Messages::IntentConfidence).double().null())
                    .col(ColumnDef::new(Messages::IdempotencyKey).string().null())
                    .col(at(Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::SessionId)
                            .to(ConversationSessions::Table, ConversationSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "messages_session_time",
                Messages::Table,
                &["session_id", "created_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "messages_idempotency_key",
                Messages::Table,
                &["idempotency_key"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConversationTags::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ConversationTags::SessionId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ConversationTags::Tag).string().not_null())
                    .col(ColumnDef::new(ConversationTags::MessageId).uuid().null())
                    .col(at(ConversationTags::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ConversationTags::SessionId)
                            .col(ConversationTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConversationTags::Table, ConversationTags::SessionId)
                            .to(ConversationSessions::Table, ConversationSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        crate::common::create_messaging_tables(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Alias::new("conversation_tags"),
            Alias::new("messages"),
            Alias::new("conversation_sessions"),
            Alias::new("external_users"),
            Alias::new("intents"),
            Alias::new("faqs"),
            Alias::new("chatbots"),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
