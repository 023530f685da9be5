//! The integrations slice, owned by integrations: OAuth connections (tokens
//! encrypted) and the single-use states of connects in progress.

use sea_orm_migration::prelude::*;

mod m20261124_000001_create_integrations;
mod m20261124_000002_shared_rate_bucket;

pub struct IntegrationsMigrator;

#[async_trait::async_trait]
impl MigratorTrait for IntegrationsMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_integrations::Migration),
            Box::new(m20261124_000002_shared_rate_bucket::Migration),
        ]
    }
}
