//! The integrations slice, owned by integrations: OAuth connections (tokens
//! encrypted) and the single-use states of connects in progress.

use sea_orm_migration::prelude::*;

mod m20261124_000001_create_integrations;

pub struct IntegrationsMigrator;

#[async_trait::async_trait]
impl MigratorTrait for IntegrationsMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261124_000001_create_integrations::Migration)]
    }
}
