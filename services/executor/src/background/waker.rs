//! The waker: turns due wake-ups (a retry's backoff over, a delay ended, a
//! concurrency slot free) into jobs on `echoflow.jobs`, in the transaction
//! that removes them, so a wait resumes exactly once and survives restarts.

use chrono::Utc;
use echoflow_bus::outbox::OutboxHandle;
use echoflow_contracts::ExecutionJob;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{executions, wakeups};

/// The longest the waker sleeps without looking (other replicas add waits too).
const MAX_SLEEP: Duration = Duration::from_millis(500);
const BATCH: u64 = 100;

/// Tells the waker that a wait is due sooner than it may think.
#[derive(Clone, Default)]
pub struct WakerHandle {
    notify: Arc<Notify>,
}

impl WakerHandle {
    pub fn due_at(&self, due: chrono::DateTime<Utc>) {
        if due - Utc::now() < chrono::Duration::from_std(MAX_SLEEP).unwrap_or_default() {
            self.notify.notify_one();
        }
    }
}

/// Runs until `shutdown`.
pub async fn run(
    db: DatabaseConnection,
    relay: OutboxHandle,
    handle: WakerHandle,
    shutdown: CancellationToken,
) {
    loop {
        let sleep = match wake_due(&db, &relay).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => until_next(&db).await,
            Err(e) => {
                tracing::warn!(error = %e, "waker could not read its waits; trying again");
                MAX_SLEEP
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = handle.notify.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

async fn until_next(db: &DatabaseConnection) -> Duration {
    match wakeups::next_due(db).await {
        Ok(Some(due)) => (due - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP),
        _ => MAX_SLEEP,
    }
}

/// Resumes every due wait; true when a full batch was taken (more may wait).
async fn wake_due(db: &DatabaseConnection, relay: &OutboxHandle) -> Result<bool, DbErr> {
    let txn = echoflow_service_kit::db::begin_writer(db).await?;
    let due = wakeups::take_due(&txn, Utc::now(), BATCH).await?;
    if due.is_empty() {
        txn.rollback().await?;
        return Ok(false);
    }
    let ids: Vec<uuid::Uuid> = due.iter().map(|w| w.execution_id).collect();
    let waiting = executions::Entity::find()
        .filter(executions::Column::Id.is_in(ids))
        .all(&txn)
        .await?;
    for execution in &waiting {
        let job = resume_job(execution);
        crate::jobs::enqueue(&txn, &job).await?;
    }
    txn.commit().await?;
    relay.notify();
    tracing::debug!(resumed = waiting.len(), "waits resumed");
    Ok(due.len() as u64 == BATCH)
}

/// A job that resumes `execution`: its ids only; the plan and the trigger
/// are read from the execution's row.
pub fn resume_job(execution: &executions::Model) -> ExecutionJob {
    ExecutionJob {
        execution_id: execution.id.to_string(),
        workflow_id: execution.workflow_id.to_string(),
        workflow_version: execution.workflow_version,
        owner_id: execution.owner_id.to_string(),
        chatbot_id: execution.chatbot_id.to_string(),
        trigger: None,
        plan_json: String::new(),
        retry_of: execution
            .retry_of
            .map(|r| r.to_string())
            .unwrap_or_default(),
        queued_at: execution.queued_at.to_rfc3339(),
    }
}
