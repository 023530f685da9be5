//! Execution steps: one row per node run, written once the step finished.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "execution_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub execution_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub node_id: String,
    pub seq: i32,
    pub node_type: String,
    pub status: String,
    pub attempts: i32,
    pub input: Option<Json>,
    pub output: Option<Json>,
    pub error: Option<String>,
    pub started_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub duration_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The steps of an execution in the order they ran.
pub async fn of_execution<C: ConnectionTrait>(
    db: &C,
    execution_id: Uuid,
) -> Result<Vec<Model>, DbErr> {
    use sea_orm::QueryOrder;
    Entity::find()
        .filter(Column::ExecutionId.eq(execution_id))
        .order_by_asc(Column::Seq)
        .all(db)
        .await
}
