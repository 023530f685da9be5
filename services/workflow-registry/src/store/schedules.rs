//! Schedules of `trigger.schedule` workflows: when each fires next, kept in
//! step with the workflow's current version.

use chrono::Utc;
use echoflow_domain::ExecutionPlan;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::NotSet, QueryOrder, QuerySelect, Set};

use crate::cron::Schedule;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: Uuid,
    pub cron: String,
    pub timezone: String,
    /// None when the expression has no occurrence left.
    pub next_fire_at: Option<DateTimeUtc>,
    pub last_fired_at: Option<DateTimeUtc>,
    pub is_active: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// In the transaction that saves a version of `wf` with `plan`: gives a
/// `trigger.schedule` workflow its schedule row and removes the row of any
/// other. The next firing is computed afresh (from now) when the schedule is
/// new, its cron or time zone changed, or the workflow is being activated;
/// otherwise it is left alone, so a save neither skips nor repeats a firing
/// (and a concurrent firing's update of it is not overwritten).
#[tracing::instrument(skip_all, fields(workflow_id = %wf.id))]
pub async fn sync<C: ConnectionTrait>(
    txn: &C,
    wf: &super::workflows::Model,
    plan: &ExecutionPlan,
) -> Result<(), DbErr> {
    let schedule = match Schedule::of_plan(plan) {
        Ok(Some(schedule)) => schedule,
        Ok(None) => {
            Entity::delete_by_id(wf.id).exec(txn).await?;
            return Ok(());
        }
        // The route refuses such a definition before it gets here.
        Err(fault) => return Err(DbErr::Custom(format!("unchecked schedule: {fault}"))),
    };
    let now = Utc::now();
    let existing = Entity::find_by_id(wf.id).one(txn).await?;
    let mut row = ActiveModel {
        workflow_id: Set(wf.id),
        cron: Set(schedule.cron().to_string()),
        timezone: Set(schedule.timezone().to_string()),
        next_fire_at: NotSet,
        last_fired_at: NotSet,
        is_active: Set(wf.is_active),
        updated_at: Set(now),
    };
    match existing {
        Some(old) => {
            let unchanged = old.cron == schedule.cron() && old.timezone == schedule.timezone();
            let activated = wf.is_active && !old.is_active;
            if !unchanged || activated {
                row.next_fire_at = Set(schedule.next_after(now));
            }
            row.update(txn).await?;
        }
        None => {
            row.next_fire_at = Set(schedule.next_after(now));
            row.last_fired_at = Set(None);
            row.insert(txn).await?;
        }
    }
    Ok(())
}

/// Up to `limit` active schedules due at `now`, the longest overdue first.
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    now: DateTimeUtc,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::IsActive.eq(true))
        .filter(Column::NextFireAt.lte(now))
        .order_by_asc(Column::NextFireAt)
        .order_by_asc(Column::WorkflowId)
        .limit(limit)
        .all(conn)
        .await
}

/// Claims the due firing of `workflow_id`: moves its next firing to `next`
/// and records `fired_at`, if the schedule is still active and due at
/// `fired_at` (a save in between may have deactivated, moved or removed it).
/// `Ok(true)` if this transaction now owns the firing.
pub async fn advance<C: ConnectionTrait>(
    conn: &C,
    workflow_id: Uuid,
    next: Option<DateTimeUtc>,
    fired_at: DateTimeUtc,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = Entity::update_many()
        .col_expr(Column::NextFireAt, Expr::value(next))
        .col_expr(Column::LastFiredAt, Expr::value(Some(fired_at)))
        .filter(Column::WorkflowId.eq(workflow_id))
        .filter(Column::IsActive.eq(true))
        .filter(Column::NextFireAt.lte(fired_at))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
