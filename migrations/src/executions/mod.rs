//! The executions slice, owned by the executor: executions and their steps.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_executions;
mod m20261123_000002_durable_steps;
mod m20261203_200001_analytics;

pub struct ExecutionsMigrator;

#[async_trait::async_trait]
impl MigratorTrait for ExecutionsMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_executions::Migration),
            Box::new(m20261123_000002_durable_steps::Migration),
            Box::new(m20261203_200001_analytics::MIGRATION),
            Box::new(crate::analytics::DailyRollups),
        ]
    }
}
