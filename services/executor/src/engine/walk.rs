//! The walk of ready nodes: every ready node starts at once (up to a
//! bound), each as soon as the steps it waits for committed; a step that
//! waits does so in the walk while others run, and once only waits are
//! left the execution is parked until its wake-up, holding no worker.

use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use sea_orm::{DbErr, EntityTrait, TransactionTrait};
use std::collections::HashMap;
use std::time::Duration;

use super::Engine;
use super::admission::{Claim, claim_running};
use super::finish::{ending, failed_step};
use super::ledger::NodeOutcome;
use super::ready::{Shared, Wake};
use super::replay::{Start, StepRun, start_step};
use crate::store::{executions, status, steps, wakeups};

/// A cancelled execution is checked for this often while steps run.
const CANCEL_POLL: Duration = Duration::from_millis(500);

/// At most this many steps of one execution run at once.
const MAX_PARALLEL_STEPS: usize = 16;

impl Engine {
    /// Runs the plan's nodes as they become ready, all ready ones at once
    /// (up to [`MAX_PARALLEL_STEPS`]), each started as soon as the steps it
    /// waits for committed. When nothing runs and nothing can start, the
    /// execution completes, or waits for its earliest wake-up when steps
    /// wait, unless a step (or a cancel) already ended it.
    pub(super) async fn walk(
        &self,
        shared: &Shared<'_>,
        mut recorded: HashMap<String, steps::Model>,
        mut seq: i32,
    ) -> Result<(), DbErr> {
        let execution_id = shared.walk().execution.id;
        let mut in_flight = FuturesUnordered::new();
        let cancelled = self.watch_cancel(shared, execution_id);
        tokio::pin!(cancelled);
        loop {
            // Starting a node never changes whether another is ready; a
            // replayed one may make its successors ready: look again.
            'start: while in_flight.len() < MAX_PARALLEL_STEPS {
                let ready = shared.walk().ready(shared.plan, None);
                if ready.is_empty() {
                    break;
                }
                for node in ready {
                    if in_flight.len() >= MAX_PARALLEL_STEPS {
                        break 'start;
                    }
                    match start_step(shared, node, recorded.remove(&node.id), &mut seq) {
                        Start::Run(step, wait) => in_flight.push(self.run_node(shared, step, wait)),
                        Start::Settled => {}
                        Start::FailedBefore(step) => {
                            // A step that failed the execution before a crash cut
                            // the run short: finish the execution as it would have.
                            let message = format!(
                                "step '{}' failed: {}",
                                node.id,
                                step.error.clone().unwrap_or_default()
                            );
                            let execution = shared.walk().execution.clone();
                            let end =
                                ending(status::FAILED, Some(message), Some(failed_step(&step)));
                            return self.finish(&execution, end, shared.limited).await;
                        }
                    }
                }
            }
            if in_flight.is_empty() {
                break;
            }
            self.park_if_only_waits(shared).await?;
            tokio::select! {
                Some(done) = in_flight.next() => {
                    if let NodeOutcome::Finished = done? {
                        // Failed, completed or cancelled: whatever still runs is abandoned.
                        return Ok(());
                    }
                }
                ended = &mut cancelled => {
                    ended?;
                    tracing::info!(
                        in_flight = in_flight.len(),
                        "execution cancelled during its steps; they are abandoned"
                    );
                    return Ok(());
                }
            }
        }
        self.settle(shared).await
    }

    /// Resolves when the execution ended from outside (a cancel) while its
    /// steps run. It looks between two commits, never during one, so a step
    /// that committed has also announced what it did.
    async fn watch_cancel(
        &self,
        shared: &Shared<'_>,
        execution_id: uuid::Uuid,
    ) -> Result<(), DbErr> {
        let mut poll =
            tokio::time::interval_at(tokio::time::Instant::now() + CANCEL_POLL, CANCEL_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            poll.tick().await;
            let _turn = shared.turn.lock().await;
            if self.has_ended(execution_id).await? {
                return Ok(());
            }
        }
    }

    /// After the walk, when no commit ended the execution or scheduled its
    /// wake-up (the last steps were replayed, or waits left as they were):
    /// complete it, or wake it when its earliest wait is due.
    async fn settle(&self, shared: &Shared<'_>) -> Result<(), DbErr> {
        let (execution, ended, wake, scheduled, starting) = {
            let walk = shared.walk();
            (
                walk.execution.clone(),
                walk.ended,
                walk.earliest_wake(None),
                walk.wake_scheduled,
                walk.starting,
            )
        };
        if ended || scheduled {
            return Ok(());
        }
        if let Some(wake) = wake {
            return self.wait_until(&execution, wake).await;
        }
        let execution = if starting {
            self.start(&execution).await?
        } else {
            execution
        };
        self.finish(
            &execution,
            ending(status::COMPLETED, None, None),
            shared.limited,
        )
        .await
    }

    /// Schedules the execution's wake-up (its steps wait) unless it ended.
    async fn wait_until(&self, execution: &executions::Model, wake: Wake) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        if let Claim::Ended = claim_running(&txn, execution).await? {
            return Ok(());
        }
        wakeups::schedule(
            &txn,
            execution.id,
            execution.workflow_id,
            wake.due,
            wake.reason,
        )
        .await?;
        txn.commit().await?;
        self.waker.due_at(wake.due);
        tracing::debug!(due = %wake.due, reason = wake.reason, "execution waits");
        Ok(())
    }

    /// Whether the execution was cancelled (or otherwise ended) meanwhile.
    async fn has_ended(&self, execution_id: uuid::Uuid) -> Result<bool, DbErr> {
        Ok(executions::Entity::find_by_id(execution_id)
            .one(&self.db)
            .await?
            .is_none_or(|e| status::is_terminal(&e.status)))
    }

    /// Runs a step, attempt after attempt. A step that waits (a retry's
    /// backoff, a delay) while other steps of the execution still run waits
    /// here, in the walk, and runs again when due; once nothing else runs,
    /// the execution is parked with its wake-up instead, holding nothing.
    async fn run_node(
        &self,
        shared: &Shared<'_>,
        mut step: StepRun<'_>,
        mut wait: Option<Wake>,
    ) -> Result<NodeOutcome, DbErr> {
        loop {
            if let Some(wake) = wait.take()
                && !self.wait_in_walk(shared, &step.node.id, wake).await
            {
                return Ok(NodeOutcome::Suspended);
            }
            match self.attempt(shared, &step).await? {
                NodeOutcome::Waits(wake, row) => {
                    step.prior = Some(*row);
                    wait = Some(wake);
                }
                outcome => return Ok(outcome),
            }
        }
    }

    /// Waits for `wake` while the execution's other steps run; true when
    /// the step is due and runs again, false when the execution was parked
    /// (or ended) meanwhile, which leaves the step to its wake-up.
    async fn wait_in_walk(&self, shared: &Shared<'_>, node_id: &str, wake: Wake) -> bool {
        let left = (wake.due - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = shared.parked.cancelled() => return false,
            () = tokio::time::sleep(left) => {}
        }
        // Under the commit turn: a commit decides whether it parks the
        // execution from what runs, and this step runs from now.
        let _turn = shared.turn.lock().await;
        let mut walk = shared.walk();
        if walk.ended || walk.wake_scheduled {
            return false;
        }
        walk.waiting.remove(node_id);
        walk.running.insert(node_id.to_string());
        true
    }

    /// When every step left in the walk waits (none runs, none can start),
    /// parks the execution with a wake-up at the earliest due time, so no
    /// worker is held for a wait. Skipped while a commit holds the turn (it
    /// decides, and the walk looks again after it).
    async fn park_if_only_waits(&self, shared: &Shared<'_>) -> Result<(), DbErr> {
        if shared.walk().waiting.is_empty() {
            // The usual case: nothing waits.
            return Ok(());
        }
        let Ok(_turn) = shared.turn.try_lock() else {
            return Ok(());
        };
        let (execution, wake) = {
            let walk = shared.walk();
            if walk.ended
                || walk.wake_scheduled
                || !walk.running.is_empty()
                || !walk.ready(shared.plan, None).is_empty()
            {
                return Ok(());
            }
            match walk.earliest_wake(None) {
                Some(wake) => (walk.execution.clone(), wake),
                None => return Ok(()),
            }
        };
        self.wait_until(&execution, wake).await?;
        shared.walk().wake_scheduled = true;
        shared.parked.cancel();
        Ok(())
    }
}
