//! The step ledger: a step's row commits one step of the execution at a
//! time, with what its commit decides besides (the end of the execution, or
//! its wake-up), and only while the execution runs: nothing is written once
//! it ended (a sibling failed it, or it was cancelled).

use chrono::Utc;
use echoflow_contracts::UpdateKind;
use echoflow_domain::NodeKind;
use echoflow_service_kit::db::begin_writer;
use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::Value;
use std::sync::Arc;

use super::Engine;
use super::admission::{Claim, claim_running};
use super::finish::{Ending, ending, finish_in};
use super::ready::{Shared, StepResult, Then, Wake};
use super::replay::StepRun;
use crate::store::{executions, status, steps, wakeups};
use crate::{responses, updates};

/// How a step's attempt ended, for its commit.
pub(super) enum Settle {
    /// It finished (completed, or failed and continued from).
    Done(StepResult),
    /// It waits (a retry's backoff, a delay).
    Wait(Wake),
    /// It failed the execution.
    Fail(Ending<'static>),
}

/// A step's row as it is about to be written.
pub(super) struct StepRecord {
    pub(super) status: &'static str,
    pub(super) attempts: u32,
    pub(super) input: Value,
    pub(super) output: Option<Value>,
    pub(super) error: Option<String>,
}

/// What the walk does after a step.
pub(super) enum NodeOutcome {
    /// The step finished; the walk goes on.
    Continue,
    /// The execution ended (the step failed or completed it, or it was
    /// cancelled): whatever else runs is abandoned.
    Finished,
    /// The step waits (a retry's backoff, a delay) and nothing else runs:
    /// the execution is parked until its wake-up.
    Suspended,
    /// The step waits while other steps run: it waits in the walk, then
    /// runs again (its row as this attempt left it).
    Waits(Wake, Box<steps::Model>),
}

impl Engine {
    /// Commits a step, one step of the execution at a time. Each commit
    /// decides, from the commits before it, what else it writes: the end
    /// of the execution when the step failed it, or when nothing else runs
    /// or can start; the execution's wake-up when nothing else runs or can
    /// start but steps wait. Nothing is written once the execution ended
    /// (a sibling failed it, or it was cancelled).
    pub(super) async fn commit(
        &self,
        shared: &Shared<'_>,
        step: &StepRun<'_>,
        record: StepRecord,
        started_at: chrono::DateTime<Utc>,
        duration_ms: i64,
        settle: Settle,
    ) -> Result<NodeOutcome, DbErr> {
        let node = step.node;
        let _turn = shared.turn.lock().await;
        let (execution, then) = {
            let walk = shared.walk();
            if walk.ended {
                return Ok(NodeOutcome::Finished);
            }
            let then = match &settle {
                Settle::Done(result) => walk.after(shared.plan, &node.id, Some(result), None),
                Settle::Wait(wake) => walk.after(shared.plan, &node.id, None, Some(*wake)),
                Settle::Fail(_) => Then::Continue,
            };
            (walk.execution.clone(), then)
        };
        let (result, wait, end) = match settle {
            Settle::Done(result) => (Some(result), None, None),
            Settle::Wait(wake) => (None, Some(wake), None),
            Settle::Fail(end) => (None, None, Some(end)),
        };
        let end = end.or_else(|| {
            matches!(then, Then::Complete).then(|| ending(status::COMPLETED, None, None))
        });
        let row = steps::Model {
            execution_id: execution.id,
            node_id: node.id.clone(),
            seq: step.seq,
            node_type: node.node_type.to_string(),
            status: record.status.to_string(),
            attempts: i32::try_from(record.attempts).unwrap_or(i32::MAX),
            input: Some(record.input.clone()),
            output: record.output.clone(),
            error: record.error.clone(),
            started_at,
            completed_at: steps::is_final(record.status).then(Utc::now),
            duration_ms: Some(duration_ms),
        };
        let waiting_row = wait.is_some().then(|| row.clone());
        let txn = begin_writer(&self.db).await?;
        let Some((execution, started)) = self.record_step(&txn, &execution, row).await? else {
            shared.walk().ended = true;
            return Ok(NodeOutcome::Finished);
        };
        // An answer for a waiting webhook caller commits with its step.
        let responds =
            node.node_type == NodeKind::ActionRespond && record.status == status::COMPLETED;
        if responds && let Some(output) = &record.output {
            responses::enqueue_responded(&txn, &execution, output).await?;
        }
        if let Some(end) = &end {
            finish_in(&txn, &execution, end, shared.limited).await?;
        }
        if let Then::Wait(wake) = then {
            wakeups::schedule(
                &txn,
                execution.id,
                execution.workflow_id,
                wake.due,
                wake.reason,
            )
            .await?;
        }
        txn.commit().await?;
        if responds {
            self.relay.notify();
        }
        if matches!(then, Then::Wait(_)) {
            shared.parked.cancel();
        }
        let announce_start = {
            let mut walk = shared.walk();
            walk.running.remove(&node.id);
            let announce_start = started && walk.starting;
            walk.starting = false;
            walk.execution = execution.clone();
            if let Some(result) = result {
                walk.finished(&node.id, result);
            }
            if let Some(wake) = wait {
                walk.waiting.insert(node.id.clone(), wake);
            }
            walk.ended |= end.is_some();
            walk.wake_scheduled |= matches!(then, Then::Wait(_));
            announce_start
        };
        if announce_start {
            self.announce_started(&execution);
        }
        updates::announce(
            &self.bus,
            &execution,
            UpdateKind::StepFinished,
            record.status,
            Some(&node.id),
            duration_ms,
        );
        if let Some(end) = end {
            self.relay.notify();
            if shared.limited {
                self.waker.due_at(Utc::now());
            }
            tracing::info!(status = end.status, error = end.error, "execution finished");
            return Ok(NodeOutcome::Finished);
        }
        if let Then::Wait(wake) = then {
            self.waker.due_at(wake.due);
            tracing::debug!(due = %wake.due, reason = wake.reason, "execution waits");
        }
        Ok(match (wait, waiting_row) {
            (Some(wake), Some(row)) if matches!(then, Then::Continue) => {
                NodeOutcome::Waits(wake, Box::new(row))
            }
            (Some(_), _) => NodeOutcome::Suspended,
            (None, _) => NodeOutcome::Continue,
        })
    }

    /// Writes the step (one row per node, updated across attempts) if the
    /// execution still runs, claiming it as running with its first step;
    /// None when it ended meanwhile (a cancel), in which case nothing is
    /// written. Returns the execution as the write left it, and whether
    /// this write started it.
    async fn record_step(
        &self,
        txn: &DatabaseTransaction,
        execution: &Arc<executions::Model>,
        row: steps::Model,
    ) -> Result<Option<(Arc<executions::Model>, bool)>, DbErr> {
        if execution.status != status::QUEUED {
            // The usual case: one statement checks and writes.
            let written = steps::upsert_if_running(txn, row).await?;
            return Ok(written.then(|| (execution.clone(), false)));
        }
        let claim = claim_running(txn, execution).await?;
        let (execution, started) = match claim {
            Claim::Ended => return Ok(None),
            Claim::Running => (execution.clone(), false),
            Claim::Started(_) => match claim.applied_to(execution) {
                Some(started) => (Arc::new(started), true),
                None => return Ok(None),
            },
        };
        // The claim holds the execution's row until commit.
        steps::upsert(txn, row).await?;
        Ok(Some((execution, started)))
    }
}
