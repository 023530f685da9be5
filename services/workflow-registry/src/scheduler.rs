//! Fires due `trigger.schedule` workflows. Every replica ticks; the one that
//! takes the database lock in a tick's transaction fires, and each firing
//! (its ExecutionJob, its `schedule.fired` event and the move of the
//! schedule's next firing) commits in that one transaction: a crash neither
//! repeats nor loses a firing.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use echoflow_bus::{OutgoingMessage, outbox, outbox::OutboxHandle, topology::EVENTS_EXCHANGE};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, EventType, Message, TriggerEvent};
use echoflow_domain::TriggerSpec;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cron::Schedule;
use crate::jobs::{build_job, enqueue, local_event};
use crate::store::{scheduler_lock, schedules, versions, workflows};

/// The source of the event of each firing (`schedule.fired`).
pub const EVENT_SOURCE: &str = "/registry/scheduler";
/// Firings per transaction; a tick with more due goes on in another.
const BATCH: u64 = 100;

pub struct Scheduler {
    db: DatabaseConnection,
    relay: OutboxHandle,
    tick: Duration,
    /// This replica, as the holder of the SQLite lease.
    holder: String,
}

impl Scheduler {
    pub fn new(db: DatabaseConnection, relay: OutboxHandle, tick: Duration) -> Self {
        Self {
            db,
            relay,
            tick: tick.max(Duration::from_millis(10)),
            holder: Uuid::new_v4().to_string(),
        }
    }

    /// Ticks until `stop`; then gives up the lease, if it holds it.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match self.tick().await {
                Ok(0) => {}
                Ok(fired) => {
                    self.relay.notify();
                    tracing::info!(fired, "schedules fired");
                }
                Err(error) => tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "scheduler tick failed; trying again next tick"
                ),
            }
        }
        if let Err(error) = scheduler_lock::release(&self.db, &self.holder).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "scheduler lease not released"
            );
        }
    }

    /// One tick: fires every due schedule, if this replica leads.
    async fn tick(&self) -> Result<usize, DbErr> {
        let mut fired = 0;
        loop {
            let (due, batch_fired) = self.fire_batch().await?;
            fired += batch_fired;
            if due < BATCH as usize {
                return Ok(fired);
            }
        }
    }

    /// Fires up to [`BATCH`] due schedules in one transaction; returns how
    /// many were due and how many fired.
    #[tracing::instrument(skip(self))]
    async fn fire_batch(&self) -> Result<(usize, usize), DbErr> {
        let txn = echoflow_service_kit::db::begin_writer(&self.db).await?;
        let now = Utc::now();
        if !scheduler_lock::lead(&txn, &self.holder, now, self.lease()).await? {
            txn.rollback().await?;
            return Ok((0, 0));
        }
        let due = schedules::due(&txn, now, BATCH).await?;
        let mut fired = 0;
        for row in &due {
            if fire(&txn, row, now).await? {
                fired += 1;
            }
        }
        txn.commit().await?;
        Ok((due.len(), fired))
    }

    /// How long a SQLite lease outlives its last tick: a few ticks, so that
    /// the leader keeps it, and a successor takes over soon after it dies.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.tick * 5)
            .unwrap_or(chrono::Duration::MAX)
            .max(chrono::Duration::seconds(5))
    }
}

/// Fires one due schedule in `txn`, once however many occurrences were
/// missed: the next firing becomes the first occurrence after `now`.
/// `Ok(false)` if it did not fire (the schedule changed meanwhile, or its
/// workflow no longer starts on it).
async fn fire(
    txn: &DatabaseTransaction,
    row: &schedules::Model,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let Some(scheduled_for) = row.next_fire_at else {
        return Ok(false);
    };
    let schedule = match Schedule::parse(&row.cron, Some(&row.timezone)) {
        Ok(schedule) => Some(schedule),
        Err(fault) => {
            tracing::warn!(workflow_id = %row.workflow_id, %fault, "unreadable schedule stopped");
            None
        }
    };
    let next = schedule.as_ref().and_then(|s| s.next_after(now));
    if !schedules::advance(txn, row.workflow_id, next, now).await? || schedule.is_none() {
        return Ok(false);
    }
    let Some(wf) = workflows::Entity::find_by_id(row.workflow_id)
        .one(txn)
        .await?
        .filter(|wf| wf.is_active)
    else {
        return Ok(false);
    };
    let Some(version) = versions::find_plan(txn, wf.id, wf.current_version).await? else {
        return Ok(false);
    };
    if !matches!(version.trigger_spec(), Some(TriggerSpec::Schedule(_))) {
        tracing::warn!(workflow_id = %wf.id, "stale schedule removed");
        schedules::Entity::delete_by_id(wf.id).exec(txn).await?;
        return Ok(false);
    }
    let event = fired_event(&wf, row, scheduled_for, now);
    let job = build_job(&wf, &version, event.clone());
    enqueue(txn, &job.execution_id, job.encode_to_vec()).await?;
    publish(txn, &event).await?;
    tracing::debug!(workflow_id = %wf.id, %scheduled_for, execution_id = job.execution_id, "schedule fired");
    Ok(true)
}

/// The `schedule.fired` event of the firing of `row` due at `scheduled_for`;
/// its id is unique per workflow and occurrence.
fn fired_event(
    wf: &workflows::Model,
    row: &schedules::Model,
    scheduled_for: DateTime<Utc>,
    fired_at: DateTime<Utc>,
) -> TriggerEvent {
    let scheduled_for = scheduled_for.to_rfc3339_opts(SecondsFormat::Secs, true);
    let data = json!({
        "scheduled_for": scheduled_for,
        "fired_at": fired_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "cron": row.cron,
        "timezone": row.timezone,
    });
    local_event(EventType::ScheduleFired, EVENT_SOURCE.to_string(), wf)
        .id(format!("{}@{scheduled_for}", wf.id))
        .time(fired_at)
        .data(data)
        .build()
}

/// Puts the event on `echoflow.events` (through the outbox) for whoever else listens.
async fn publish(txn: &DatabaseTransaction, event: &TriggerEvent) -> Result<(), DbErr> {
    let message = OutgoingMessage::new(
        event.id.clone(),
        &event.r#type,
        CLOUDEVENTS_CONTENT_TYPE,
        event.to_cloudevent_json(),
    );
    outbox::enqueue(txn, EVENTS_EXCHANGE, &message).await
}
