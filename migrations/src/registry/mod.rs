//! The registry slice, owned by workflow-registry: workflows, their versions,
//! the trigger index and webhook tokens.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_registry;

pub struct RegistryMigrator;

#[async_trait::async_trait]
impl MigratorTrait for RegistryMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_create_registry::Migration)]
    }
}
