//! Immutable workflow versions: the saved graph and its compiled plan.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub definition: Json,
    pub plan: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    workflow_id: Uuid,
    version: i32,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id((workflow_id, version)).one(db).await
}
