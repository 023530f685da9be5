//! The registry slice, owned by workflow-registry: workflows, their versions,
//! the trigger index, webhook tokens and the debounce state of triggers.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_registry;
mod m20261123_000002_create_trigger_firings;
mod m20261123_000003_create_templates;
mod m20261123_000004_create_schedules;
mod m20261123_000005_create_webhook_deliveries_and_audit_log;

pub struct RegistryMigrator;

#[async_trait::async_trait]
impl MigratorTrait for RegistryMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_registry::Migration),
            Box::new(m20261123_000002_create_trigger_firings::Migration),
            Box::new(m20261123_000003_create_templates::Migration),
            Box::new(m20261123_000004_create_schedules::Migration),
            Box::new(m20261123_000005_create_webhook_deliveries_and_audit_log::Migration),
        ]
    }
}
