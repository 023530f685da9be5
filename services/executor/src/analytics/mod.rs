//! The executor's slice of the analytics overview (`GET /internal/analytics/executions`,
//! service token): the owner's executions by status, their durations, the
//! workflows and steps that fail most, and dead letters, from the hourly
//! rollups before the watermark and the raw rows after it.

pub mod fold;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_analytics::durations;
use echoflow_analytics::roller::{RawRows, rolled};
use echoflow_analytics::rollup::{Sums, Tally};
use echoflow_analytics::trend::{self, count};
use echoflow_analytics::{
    ByStatus, DeadLetters, Durations, ExecutionBucket, ExecutionFigures, FailingStep,
    FailingWorkflow, Range, SliceQuery, TOP,
};
use echoflow_service_kit::{ApiError, InternalCaller};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use crate::store::{dead_letters, executions, status};
use fold::{DURATIONS, FINISHED, STEP_FAILURES, Scope, TREND, WORKFLOW_FAILURES};

/// The executor's raw rows for the roller.
pub struct ExecutionRows;

impl RawRows for ExecutionRows {
    const NAME: &'static str = "executions";

    async fn next_row_at(
        &self,
        db: &DatabaseConnection,
        from: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        fold::next_end_at(db, from).await
    }

    async fn fold(
        &self,
        txn: &DatabaseTransaction,
        tally: &mut Tally,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        fold::fold(txn, tally, Scope::All, from, to).await
    }
}

/// `GET /internal/analytics/executions?owner_id=&chatbot_id=&from=&to=&bucket=`.
#[tracing::instrument(skip_all, fields(owner_id = %query.owner_id))]
pub async fn executions(
    _caller: InternalCaller,
    db: web::Data<DatabaseConnection>,
    query: web::Query<SliceQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let range = Range::new(query.from, query.to, query.bucket)?;
    let figures = figures(db.get_ref(), query.owner_id, query.chatbot_id, &range).await?;
    Ok(HttpResponse::Ok().json(figures))
}

/// The figures of the owner's executions (of one chatbot's workflows, or all) over `range`.
pub async fn figures(
    db: &DatabaseConnection,
    owner_id: Uuid,
    chatbot_id: Option<Uuid>,
    range: &Range,
) -> Result<ExecutionFigures, DbErr> {
    let mut sums = Sums::default();
    // Hours before the watermark come rolled up; the rest is folded from the raw rows.
    let rolled = rolled::<ExecutionRows>(db).await?;
    let split = sums
        .add_rollups(db, owner_id, chatbot_id, range, rolled, &TREND)
        .await?;
    let mut tail = Tally::default();
    let scope = Scope::Owner {
        owner_id,
        chatbot_id,
    };
    fold::fold(db, &mut tail, scope, split, range.to).await?;
    sums.add_tally(&tail, &TREND);
    let (queued, running) = in_progress(db, owner_id, chatbot_id, range).await?;
    let dead_letters = dead_letters(db, owner_id, chatbot_id, range).await?;
    Ok(shape(range, &sums, queued, running, dead_letters))
}

/// Executions queued in the range that have not ended: (queued, running).
async fn in_progress(
    db: &DatabaseConnection,
    owner_id: Uuid,
    chatbot_id: Option<Uuid>,
    range: &Range,
) -> Result<(u64, u64), DbErr> {
    let mut select = executions::Entity::find()
        .select_only()
        .column(executions::Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(executions::Column::OwnerId.eq(owner_id))
        .filter(executions::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .filter(executions::Column::QueuedAt.gte(range.from))
        .filter(executions::Column::QueuedAt.lt(range.to))
        .group_by(executions::Column::Status);
    if let Some(id) = chatbot_id {
        select = select.filter(executions::Column::ChatbotId.eq(id));
    }
    let counts: Vec<(String, i64)> = select.into_tuple().all(db).await?;
    let of = |wanted: &str| {
        counts
            .iter()
            .find(|(s, _)| s == wanted)
            .map_or(0, |(_, n)| (*n).max(0) as u64)
    };
    Ok((of(status::QUEUED), of(status::RUNNING)))
}

/// Dead letters recorded in the range (of the chatbot's executions, when one is named).
async fn dead_letters(
    db: &DatabaseConnection,
    owner_id: Uuid,
    chatbot_id: Option<Uuid>,
    range: &Range,
) -> Result<DeadLetters, DbErr> {
    let mut select = dead_letters::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "total")
        .column_as(Expr::cust("COUNT(replayed_at)"), "replayed")
        .filter(dead_letters::Column::OwnerId.eq(owner_id))
        .filter(dead_letters::Column::CreatedAt.gte(range.from))
        .filter(dead_letters::Column::CreatedAt.lt(range.to));
    if let Some(id) = chatbot_id {
        select = select.filter(
            dead_letters::Column::ExecutionId.in_subquery(
                Query::select()
                    .column(executions::Column::Id)
                    .from(executions::Entity)
                    .and_where(executions::Column::OwnerId.eq(owner_id))
                    .and_where(executions::Column::ChatbotId.eq(id))
                    .to_owned(),
            ),
        );
    }
    let (total, replayed): (i64, i64) = select.into_tuple().one(db).await?.unwrap_or((0, 0));
    Ok(DeadLetters {
        total: total.max(0) as u64,
        not_replayed: (total - replayed).max(0) as u64,
    })
}

fn shape(
    range: &Range,
    sums: &Sums,
    queued: u64,
    running: u64,
    dead_letters: DeadLetters,
) -> ExecutionFigures {
    let finished = |state: &str| sums.total(FINISHED, state).count.max(0) as u64;
    let bins: Vec<(u64, u64)> = sums
        .dimensions(DURATIONS)
        .filter_map(|(bin, cell)| Some((bin.parse().ok()?, cell.count.max(0) as u64)))
        .collect();
    let mut workflows: Vec<FailingWorkflow> = sums
        .dimensions(WORKFLOW_FAILURES)
        .filter_map(|(id, cell)| {
            Some(FailingWorkflow {
                workflow_id: id.parse().ok()?,
                failures: cell.count.max(0) as u64,
            })
        })
        .collect();
    workflows.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.workflow_id.cmp(&b.workflow_id))
    });
    workflows.truncate(TOP);
    let mut steps: Vec<FailingStep> = sums
        .dimensions(STEP_FAILURES)
        .filter_map(|(key, cell)| {
            let (workflow, node) = key.split_once(' ')?;
            Some(FailingStep {
                workflow_id: workflow.parse().ok()?,
                node_id: node.to_owned(),
                failures: cell.count.max(0) as u64,
            })
        })
        .collect();
    steps.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.workflow_id.cmp(&b.workflow_id))
            .then_with(|| a.node_id.cmp(&b.node_id))
    });
    steps.truncate(TOP);
    let buckets = trend::buckets(range, sums, FINISHED)
        .into_iter()
        .map(|(start, cells)| ExecutionBucket {
            start,
            completed: count(&cells, status::COMPLETED),
            failed: count(&cells, status::FAILED),
            cancelled: count(&cells, status::CANCELLED),
        })
        .collect();
    ExecutionFigures {
        by_status: ByStatus {
            queued,
            running,
            completed: finished(status::COMPLETED),
            failed: finished(status::FAILED),
            cancelled: finished(status::CANCELLED),
        },
        duration_ms: Durations {
            count: bins.iter().map(|(_, n)| n).sum(),
            p50: durations::quantile(&bins, 0.5),
            p95: durations::quantile(&bins, 0.95),
        },
        top_failing_workflows: workflows,
        top_failing_steps: steps,
        dead_letters,
        buckets,
    }
}

#[cfg(test)]
mod tests;
