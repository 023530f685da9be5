//! The registry slice, owned by workflow-registry: workflows, their versions,
//! the trigger index, webhook tokens and the debounce state of triggers.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_registry;
mod m20261123_000002_create_trigger_firings;

pub struct RegistryMigrator;

#[async_trait::async_trait]
impl MigratorTrait for RegistryMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_registry::Migration),
            Box::new(m20261123_000002_create_trigger_firings::Migration),
        ]
    }
}
