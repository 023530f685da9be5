//! Database migrations, one folder and one migrator per schema slice; each
//! runs on PostgreSQL (the slice's schema) and SQLite (the slice's file).

mod analytics;
pub mod chat;
pub mod executions;
pub mod identity;
pub mod integrations;
pub mod registry;

pub use chat::ChatMigrator;
pub use executions::ExecutionsMigrator;
pub use identity::IdentityMigrator;
pub use integrations::IntegrationsMigrator;
pub use registry::RegistryMigrator;
pub use sea_orm_migration::MigratorTrait;

/// A schema slice and the service that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slice {
    Identity,
    Registry,
    Executions,
    Chat,
    Integrations,
}

impl Slice {
    pub const ALL: [Slice; 5] = [
        Slice::Identity,
        Slice::Registry,
        Slice::Chat,
        Slice::Integrations,
        Slice::Executions,
    ];

    /// The schema (PostgreSQL) or file stem (SQLite) of the slice.
    pub fn name(self) -> &'static str {
        match self {
            Slice::Identity => "identity",
            Slice::Registry => "registry",
            Slice::Executions => "executions",
            Slice::Chat => "chat",
            Slice::Integrations => "integrations",
        }
    }

    /// The service that owns, and migrates, the slice.
    pub fn owner(self) -> &'static str {
        match self {
            Slice::Identity => "gateway",
            Slice::Registry => "workflow-registry",
            Slice::Executions => "executor",
            Slice::Chat => "chat",
            Slice::Integrations => "integrations",
        }
    }

    /// Applies every pending migration of the slice; returns how many ran.
    pub async fn migrate(
        self,
        db: &sea_orm_migration::sea_orm::DatabaseConnection,
    ) -> Result<usize, sea_orm_migration::DbErr> {
        let pending = match self {
            Slice::Identity => IdentityMigrator::get_pending_migrations(db).await?.len(),
            Slice::Registry => RegistryMigrator::get_pending_migrations(db).await?.len(),
            Slice::Executions => ExecutionsMigrator::get_pending_migrations(db).await?.len(),
            Slice::Chat => ChatMigrator::get_pending_migrations(db).await?.len(),
            Slice::Integrations => IntegrationsMigrator::get_pending_migrations(db)
                .await?
                .len(),
        };
        match self {
            Slice::Identity => IdentityMigrator::up(db, None).await?,
            Slice::Registry => RegistryMigrator::up(db, None).await?,
            Slice::Executions => ExecutionsMigrator::up(db, None).await?,
            Slice::Chat => ChatMigrator::up(db, None).await?,
            Slice::Integrations => IntegrationsMigrator::up(db, None).await?,
        }
        Ok(pending)
    }
}

pub(crate) mod common {
    use sea_orm_migration::prelude::*;

    /// Creates the slice's outbox and processed-message tables.
    pub async fn create_messaging_tables(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(echoflow_bus::outbox::create_table_statement())
            .await?;
        manager
            .create_table(echoflow_bus::dedupe::create_table_statement())
            .await
    }
}
