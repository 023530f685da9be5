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

/// A step whose attempt failed and waits for its next one.
pub const RETRYING: &str = "retrying";
/// A delay step that waits for its end.
pub const WAITING: &str = "waiting";

/// Whether a step's row is its last word (it completed or failed for good).
pub fn is_final(status: &str) -> bool {
    !matches!(status, RETRYING | WAITING)
}

/// Writes the step's row, replacing the one an earlier attempt left.
pub async fn upsert<C: ConnectionTrait>(db: &C, step: Model) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    Entity::insert(ActiveModel::from(step))
        .on_conflict(
            OnConflict::columns([Column::ExecutionId, Column::NodeId])
                .update_columns([
                    Column::Status,
                    Column::Attempts,
                    Column::Input,
                    Column::Output,
                    Column::Error,
                    Column::CompletedAt,
                    Column::DurationMs,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
