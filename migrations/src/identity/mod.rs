//! The identity slice, owned by the gateway: users, refresh tokens, audit log,
//! revoked access tokens and the login/registration rate counters.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_identity;
mod m20261203_000001_harden_identity;

pub struct IdentityMigrator;

#[async_trait::async_trait]
impl MigratorTrait for IdentityMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_identity::Migration),
            Box::new(m20261203_000001_harden_identity::Migration),
        ]
    }
}
