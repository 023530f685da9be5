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

/// What a later attempt of a step replaces in its row.
const UPDATED: [Column; 7] = [
    Column::Status,
    Column::Attempts,
    Column::Input,
    Column::Output,
    Column::Error,
    Column::CompletedAt,
    Column::DurationMs,
];

/// Writes the step's row, replacing the one an earlier attempt left.
pub async fn upsert<C: ConnectionTrait>(db: &C, step: Model) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    Entity::insert(ActiveModel::from(step))
        .on_conflict(
            OnConflict::columns([Column::ExecutionId, Column::NodeId])
                .update_columns(UPDATED)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes the step's row (as [`upsert`]) only while its execution runs, in
/// one statement; false when it does not (a cancel ended it), and nothing
/// was written. On PostgreSQL the execution's row stays share-locked until
/// commit, so a cancel waits for the step's commit instead of slipping in
/// between; on SQLite the caller's writer transaction
/// ([`echoflow_service_kit::db::begin_writer`]) holds the write lock.
pub async fn upsert_if_running<C: ConnectionTrait>(db: &C, step: Model) -> Result<bool, DbErr> {
    use super::{executions, status};
    use sea_orm::sea_query::{Expr, LockType, OnConflict, Query};
    let running = Query::select()
        .exprs([
            Expr::val(step.execution_id),
            Expr::val(step.node_id),
            Expr::val(step.seq),
            Expr::val(step.node_type),
            Expr::val(step.status),
            Expr::val(step.attempts),
            Expr::val(step.input),
            Expr::val(step.output),
            Expr::val(step.error),
            Expr::val(step.started_at),
            Expr::val(step.completed_at),
            Expr::val(step.duration_ms),
        ])
        .from(executions::Entity)
        .and_where(executions::Column::Id.eq(step.execution_id))
        .and_where(executions::Column::Status.eq(status::RUNNING))
        .lock(LockType::Share)
        .to_owned();
    let insert = Query::insert()
        .into_table(Entity)
        .columns([
            Column::ExecutionId,
            Column::NodeId,
            Column::Seq,
            Column::NodeType,
            Column::Status,
            Column::Attempts,
            Column::Input,
            Column::Output,
            Column::Error,
            Column::StartedAt,
            Column::CompletedAt,
            Column::DurationMs,
        ])
        .select_from(running)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::columns([Column::ExecutionId, Column::NodeId])
                .update_columns(UPDATED)
                .to_owned(),
        )
        .to_owned();
    let written = db
        .execute_raw(db.get_database_backend().build(&insert))
        .await?;
    Ok(written.rows_affected() == 1)
}
