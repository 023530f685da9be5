//! Runs one execution: walks the compiled plan from the trigger, running
//! each reached node with its retry and timeout policy as soon as the nodes
//! before it finished (the branches after a fan-out run at once), and
//! records every step in the same transaction as its ExecutionUpdate. A step
//! already recorded is never run again when a job is redelivered: its output
//! is reused.

pub mod ai;
pub mod chat;
pub mod http;
pub mod integrations;
pub mod network;
pub mod nodes;
pub mod policy;
pub mod retention;
pub mod waker;

use chrono::Utc;
use echoflow_bus::outbox::OutboxHandle;
use echoflow_contracts::{ExecutionJob, UpdateKind};
use echoflow_domain::{ExecutionPlan, OnError, PlanNode, expr};
use futures::stream::{FuturesUnordered, StreamExt};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Statement,
    TransactionTrait, sea_query::Expr,
};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::store::dead_letters::{self, FailedStep};
use crate::store::executions::{self, JobIds};
use crate::store::{status, steps, wakeups};
use crate::updates;
use nodes::{NodeError, NodeRunner, StepScope};

/// Why a job could not be run to an end.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job itself is unusable: dead-letter it.
    #[error("{0}")]
    Malformed(String),
    /// The database failed: try again later.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Runs jobs.
#[derive(Clone)]
pub struct Engine {
    pub db: DatabaseConnection,
    pub bus: echoflow_bus::SharedBus,
    pub relay: OutboxHandle,
    pub nodes: NodeRunner,
    /// Wakes the waker when a wait is due soon.
    pub waker: waker::WakerHandle,
}

/// What a finished (or earlier recorded) step leaves for the steps after it.
struct StepResult {
    output: Value,
    handles: Vec<Option<String>>,
}

/// A cancelled execution is checked for this often while steps run.
const CANCEL_POLL: Duration = Duration::from_millis(500);

/// How an execution ends, and what it failed at.
pub(crate) struct Ending<'a> {
    pub status: &'a str,
    pub error: Option<String>,
    pub failed: Option<FailedStep>,
    /// A failure is dead-lettered, unless the job itself is (an unreadable plan).
    pub dead_letter: bool,
}

impl Engine {
    #[tracing::instrument(skip_all, fields(execution_id = %job.execution_id, workflow_id = %job.workflow_id))]
    pub async fn run(&self, job: &ExecutionJob) -> Result<(), EngineError> {
        let ids = JobIds::parse(job).map_err(EngineError::Malformed)?;
        let mut execution = executions::ensure_queued(&self.db, job, &ids).await?;
        if status::is_terminal(&execution.status) {
            tracing::debug!(status = %execution.status, "already finished; duplicate delivery ignored");
            return Ok(());
        }
        // A resumed execution's job carries only its ids: the plan is the one recorded.
        let plan_json = if job.plan_json.is_empty() {
            execution
                .plan
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default()
        } else {
            job.plan_json.clone()
        };
        let plan: ExecutionPlan = match serde_json::from_str(&plan_json) {
            Ok(plan) => plan,
            Err(e) => {
                let reason = format!("the job's plan is unreadable: {e}");
                // The job itself is dead-lettered (by the consumer), once.
                let end = Ending {
                    dead_letter: false,
                    ..ending(status::FAILED, Some(reason.clone()), None)
                };
                self.finish(&execution, end, false).await?;
                return Err(EngineError::Malformed(reason));
            }
        };
        let limited = plan.settings.max_concurrency.is_some();
        if execution.status == status::QUEUED
            && let Some(limit) = plan.settings.max_concurrency
        {
            match self.admit(&execution, limit).await? {
                Some(admitted) => execution = admitted,
                None => return Ok(()),
            }
        }
        // The switch to `running` commits with the first step, not alone.
        let starting = execution.status == status::QUEUED;
        // Steps are only recorded once the execution runs: a queued one has
        // none, unless it is a retry that carries its original's.
        let recorded = if starting && execution.retry_of.is_none() {
            Vec::new()
        } else {
            steps::of_execution(&self.db, execution.id).await?
        };
        let seq = recorded.iter().map(|s| s.seq).max().unwrap_or(0);
        let recorded: HashMap<String, steps::Model> = recorded
            .into_iter()
            .map(|s| (s.node_id.clone(), s))
            .collect();
        let mut results: HashMap<String, StepResult> = HashMap::new();
        results.insert(
            plan.trigger.id.clone(),
            StepResult {
                output: execution
                    .trigger
                    .get("data")
                    .cloned()
                    .unwrap_or(Value::Null),
                handles: vec![None],
            },
        );
        let shared = Shared {
            plan: &plan,
            limited,
            walk: Mutex::new(Walk {
                execution: Arc::new(execution),
                results,
                ctx_steps: Map::new(),
                running: HashSet::new(),
                waiting: HashMap::new(),
                ended: false,
                starting,
                wake_scheduled: false,
            }),
            turn: tokio::sync::Mutex::new(()),
            parked: CancellationToken::new(),
        };
        self.walk(&shared, recorded, seq).await?;
        Ok(())
    }

    /// Runs the plan's nodes as they become ready, all ready ones at once
    /// (up to [`MAX_PARALLEL_STEPS`]), each started as soon as the steps it
    /// waits for committed. When nothing runs and nothing can start, the
    /// execution completes, or waits for its earliest wake-up when steps
    /// wait, unless a step (or a cancel) already ended it.
    async fn walk(
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

    /// Under a concurrency limit: runs the execution if fewer than `limit`
    /// of its workflow run and no older one waits; otherwise it waits,
    /// holding no worker, until a slot frees. Returns the running execution,
    /// or None when it waits (or ended meanwhile).
    async fn admit(
        &self,
        execution: &executions::Model,
        limit: u32,
    ) -> Result<Option<executions::Model>, DbErr> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            // Admissions of one workflow take turns; others are not held up.
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [execution.workflow_id.to_string().into()],
            ))
            .await?;
        } else {
            // SQLite: write first, so the transaction holds the write lock
            // (waiting its turn) before it reads; a read-then-write
            // transaction fails at once when another writer got in between.
            executions::Entity::update_many()
                .col_expr(
                    executions::Column::Status,
                    Expr::col(executions::Column::Status),
                )
                .filter(executions::Column::Id.eq(execution.id))
                .exec(&txn)
                .await?;
        }
        let running = executions::Entity::find()
            .filter(executions::Column::WorkflowId.eq(execution.workflow_id))
            .filter(executions::Column::Status.eq(status::RUNNING))
            .count(&txn)
            .await?;
        let older_waiting = executions::Entity::find()
            .filter(executions::Column::WorkflowId.eq(execution.workflow_id))
            .filter(executions::Column::Status.eq(status::QUEUED))
            .filter(
                Condition::any()
                    .add(executions::Column::QueuedAt.lt(execution.queued_at))
                    .add(
                        Condition::all()
                            .add(executions::Column::QueuedAt.eq(execution.queued_at))
                            .add(executions::Column::Id.lt(execution.id)),
                    ),
            )
            .count(&txn)
            .await?;
        if running < u64::from(limit) && older_waiting == 0 {
            let claim = claim_running(&txn, execution).await?;
            wakeups::cancel(&txn, execution.id).await?;
            txn.commit().await?;
            let Some(execution) = claim.applied_to(execution) else {
                return Ok(None);
            };
            self.announce_started(&execution);
            return Ok(Some(execution));
        }
        // A slot freeing wakes the oldest waiter at once; this is the safety net.
        let due = Utc::now() + chrono::Duration::seconds(5);
        wakeups::schedule(
            &txn,
            execution.id,
            execution.workflow_id,
            due,
            wakeups::CONCURRENCY,
        )
        .await?;
        // A free slot this one may not take belongs to an older waiter: wake it.
        let slot_free = running < u64::from(limit);
        if slot_free {
            wakeups::wake_next_waiting(&txn, execution.workflow_id, Some(execution.id)).await?;
        }
        txn.commit().await?;
        if slot_free {
            self.waker.due_at(Utc::now());
        }
        tracing::debug!(
            running,
            older_waiting,
            limit,
            "waiting for a concurrency slot"
        );
        Ok(None)
    }

    /// Marks an execution that ran no step running, in a transaction of its own.
    async fn start(
        &self,
        execution: &Arc<executions::Model>,
    ) -> Result<Arc<executions::Model>, DbErr> {
        let txn = self.db.begin().await?;
        let claim = claim_running(&txn, execution).await?;
        txn.commit().await?;
        if let Claim::Started(_) = claim
            && let Some(started) = claim.applied_to(execution)
        {
            self.announce_started(&started);
            return Ok(Arc::new(started));
        }
        Ok(execution.clone())
    }

    fn announce_started(&self, execution: &executions::Model) {
        updates::announce(
            &self.bus,
            execution,
            UpdateKind::Started,
            status::RUNNING,
            None,
            0,
        );
    }

    /// Ends the execution unless it already ended.
    async fn finish(
        &self,
        execution: &executions::Model,
        end: Ending<'_>,
        limited: bool,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        finish_in(&txn, execution, &end, limited).await?;
        txn.commit().await?;
        self.relay.notify();
        if limited {
            self.waker.due_at(Utc::now());
        }
        tracing::info!(status = end.status, error = end.error, "execution finished");
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

    /// Runs one attempt of a node, then commits its step. A failed attempt
    /// that may be retried is recorded `retrying`, due again after its
    /// backoff; a delay is recorded `waiting` until its end.
    async fn attempt(&self, shared: &Shared<'_>, step: &StepRun<'_>) -> Result<NodeOutcome, DbErr> {
        let node = step.node;
        let (execution_id, chatbot_id, owner_id, input_override) = {
            let walk = shared.walk();
            let execution = &walk.execution;
            let input_override = execution
                .step_inputs
                .as_ref()
                .and_then(|inputs| inputs.get(&node.id))
                .cloned();
            (
                execution.id,
                execution.chatbot_id,
                execution.owner_id,
                input_override,
            )
        };
        let started_at = step.prior.as_ref().map_or_else(Utc::now, |p| p.started_at);
        let attempts = step
            .prior
            .as_ref()
            .map_or(0, |p| u32::try_from(p.attempts).unwrap_or(0))
            + 1;
        let clock = Instant::now();
        let step_key = format!("{execution_id}:{}", node.id);

        let (input, outcome) = if node.node_type == "action.delay" {
            match delay_step(
                node,
                &step.ctx,
                step.prior.as_ref(),
                input_override.as_ref(),
            ) {
                Ok(DelayState::Done(input, output)) => (input, Ok(output)),
                Ok(DelayState::Waiting(input, until)) => {
                    let record = StepRecord {
                        status: steps::WAITING,
                        attempts: 1,
                        input,
                        output: Some(json!({"resume_at": until.to_rfc3339()})),
                        error: None,
                    };
                    let wake = Wake {
                        due: until,
                        reason: wakeups::DELAY,
                    };
                    return self
                        .commit(shared, step, record, started_at, 0, Settle::Wait(wake))
                        .await;
                }
                Err(e) => (node.config.clone(), Err(e)),
            }
        } else {
            let scope = StepScope {
                key: &step_key,
                chatbot_id,
                owner_id,
                input_override: input_override.as_ref(),
            };
            self.nodes
                .run(node, &step.ctx, &step.incoming, &scope)
                .await
        };
        let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = &outcome
            && let Some(delay) = policy::next_delay(node.policy.retry.as_ref(), e, attempts)
        {
            let due = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::info!(node_id = %node.id, attempts, class = e.class(), ?delay, "step failed; retry scheduled");
            let record = StepRecord {
                status: steps::RETRYING,
                attempts,
                input,
                output: Some(json!({"class": e.class(), "next_attempt_at": due.to_rfc3339()})),
                error: Some(e.to_string()),
            };
            let wake = Wake {
                due,
                reason: wakeups::RETRY,
            };
            return self
                .commit(shared, step, record, started_at, 0, Settle::Wait(wake))
                .await;
        }
        let (record, settle) = match outcome {
            Ok(output) => {
                let handles = nodes::handles_of(node, &output);
                let record = StepRecord {
                    status: status::COMPLETED,
                    attempts,
                    input,
                    output: Some(output.clone()),
                    error: None,
                };
                (record, Settle::Done(StepResult { output, handles }))
            }
            Err(e) if node.policy.on_error == OnError::Continue => {
                let message = e.to_string();
                let output = json!({"error": message, "class": e.class()});
                let record = StepRecord {
                    status: status::FAILED,
                    attempts,
                    input,
                    output: Some(output.clone()),
                    error: Some(message),
                };
                let handles = vec![Some("error".to_string())];
                (record, Settle::Done(StepResult { output, handles }))
            }
            Err(e) => {
                let message = e.to_string();
                let failed = FailedStep {
                    node_id: node.id.clone(),
                    input: input.clone(),
                    attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
                };
                let end = ending(
                    status::FAILED,
                    Some(format!("step '{}' failed: {message}", node.id)),
                    Some(failed),
                );
                let record = StepRecord {
                    status: status::FAILED,
                    attempts,
                    input,
                    output: None,
                    error: Some(message),
                };
                (record, Settle::Fail(end))
            }
        };
        self.commit(shared, step, record, started_at, duration_ms, settle)
            .await
    }

    /// Commits a step, one step of the execution at a time. Each commit
    /// decides, from the commits before it, what else it writes: the end
    /// of the execution when the step failed it, or when nothing else runs
    /// or can start; the execution's wake-up when nothing else runs or can
    /// start but steps wait. Nothing is written once the execution ended
    /// (a sibling failed it, or it was cancelled).
    async fn commit(
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
            node_type: node.node_type.clone(),
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
        let txn = self.db.begin().await?;
        let Some((execution, started)) = self.record_step(&txn, &execution, row).await? else {
            shared.walk().ended = true;
            return Ok(NodeOutcome::Finished);
        };
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

/// At most this many steps of one execution run at once.
const MAX_PARALLEL_STEPS: usize = 16;

/// One execution's walk, shared by the steps that run at once.
struct Shared<'p> {
    plan: &'p ExecutionPlan,
    /// The workflow has a concurrency limit.
    limited: bool,
    /// Locked only between awaits, never across one.
    walk: Mutex<Walk>,
    /// Steps commit one at a time, so each decides from the commits before
    /// it whether it is the last.
    turn: tokio::sync::Mutex<()>,
    /// Cancelled once the execution is parked (its wake-up written): the
    /// steps that wait in the walk stop waiting, and the walk ends.
    parked: CancellationToken,
}

impl Shared<'_> {
    fn walk(&self) -> MutexGuard<'_, Walk> {
        self.walk.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where one execution's walk stands.
struct Walk {
    /// The execution as the last commit left it.
    execution: Arc<executions::Model>,
    /// The trigger and every finished step (completed, or failed and
    /// continued from): its output and the handles it fired.
    results: HashMap<String, StepResult>,
    /// `{node_id: {"output": ..}}` of the finished steps, for expressions.
    ctx_steps: Map<String, Value>,
    /// Steps started and not committed yet.
    running: HashSet<String>,
    /// Steps that wait (a retry's backoff, a delay), and until when.
    waiting: HashMap<String, Wake>,
    /// A step failed or completed the execution, or it was cancelled.
    ended: bool,
    /// Queued, and no step replayed: the commit that starts it announces it.
    starting: bool,
    /// A commit scheduled the execution's wake-up: nothing else ran then.
    wake_scheduled: bool,
}

impl Walk {
    fn finished(&mut self, node_id: &str, result: StepResult) {
        self.ctx_steps
            .insert(node_id.to_string(), json!({"output": result.output}));
        self.results.insert(node_id.to_string(), result);
    }

    fn is_started(&self, node_id: &str) -> bool {
        self.results.contains_key(node_id)
            || self.running.contains(node_id)
            || self.waiting.contains_key(node_id)
    }

    /// The nodes that can start now, in plan order: not started, every
    /// incoming edge resolved (its source finished, or will never run), and
    /// reached by one of them. `just` counts a step about to commit as
    /// finished.
    fn ready<'s, 'p>(
        &'s self,
        plan: &'p ExecutionPlan,
        just: Option<(&'s str, &'s StepResult)>,
    ) -> Vec<&'p PlanNode> {
        let finished = |id: &str| match just {
            Some((just_id, result)) if just_id == id => Some(result),
            _ => self.results.get(id),
        };
        // Plan order is topological: a node's sources are judged before it.
        let mut never: HashSet<&'p str> = HashSet::new();
        let mut ready = Vec::new();
        for node in &plan.nodes {
            if self.is_started(&node.id) || just.is_some_and(|(id, _)| id == node.id) {
                continue;
            }
            let resolved = node
                .incoming
                .iter()
                .all(|id| finished(id).is_some() || never.contains(id.as_str()));
            if !resolved {
                continue;
            }
            if reached_by(plan, node, finished) {
                ready.push(node);
            } else {
                never.insert(&node.id);
            }
        }
        ready
    }

    /// What the commit of `node_id` (finished with `result`, or waiting
    /// for `wake`) does besides: nothing when another step runs or can
    /// start; else it completes the execution, or schedules its wake-up
    /// when steps wait.
    fn after(
        &self,
        plan: &ExecutionPlan,
        node_id: &str,
        result: Option<&StepResult>,
        wake: Option<Wake>,
    ) -> Then {
        let others_run = self.running.iter().any(|id| id != node_id);
        if others_run || !self.ready(plan, result.map(|r| (node_id, r))).is_empty() {
            return Then::Continue;
        }
        match self.earliest_wake(wake) {
            Some(wake) => Then::Wait(wake),
            None => Then::Complete,
        }
    }

    /// The earliest of the waits (and `also`).
    fn earliest_wake(&self, also: Option<Wake>) -> Option<Wake> {
        self.waiting
            .values()
            .copied()
            .chain(also)
            .min_by_key(|wake| wake.due)
    }
}

/// When a waiting step is due again, and why it waits.
#[derive(Debug, Clone, Copy)]
struct Wake {
    due: chrono::DateTime<Utc>,
    reason: &'static str,
}

/// What the walk does with a ready node.
enum Start<'p> {
    /// Run it, after its wait when it still waits.
    Run(StepRun<'p>, Option<Wake>),
    /// An earlier delivery finished it (replayed).
    Settled,
    /// An earlier delivery recorded it failing the execution.
    FailedBefore(steps::Model),
}

/// Starts `node`: replays it when an earlier delivery finished it, leaves
/// it waiting when its wait is not over, or hands it over to run.
fn start_step<'p>(
    shared: &Shared<'p>,
    node: &'p PlanNode,
    prior: Option<steps::Model>,
    seq: &mut i32,
) -> Start<'p> {
    let mut walk = shared.walk();
    match prior {
        Some(step) if step.status == status::FAILED && node.policy.on_error == OnError::Fail => {
            Start::FailedBefore(step)
        }
        Some(step) if steps::is_final(&step.status) => {
            walk.starting = false;
            walk.finished(&node.id, replayed(node, &step));
            Start::Settled
        }
        prior => {
            // A delivery that comes before its wait is over (a duplicate, or
            // a resume for another step) leaves it waiting.
            let wait = prior
                .as_ref()
                .and_then(pending_wake)
                .filter(|wake| wake.due > Utc::now());
            let seq = match &prior {
                Some(p) => p.seq,
                None => {
                    *seq += 1;
                    *seq
                }
            };
            let ctx = json!({
                "trigger": walk.execution.trigger,
                "steps": Value::Object(walk.ctx_steps.clone()),
            });
            let incoming = node
                .incoming
                .iter()
                .filter_map(|id| walk.results.get(id).map(|r| (id.clone(), r.output.clone())))
                .collect();
            match wait {
                Some(wake) => walk.waiting.insert(node.id.clone(), wake),
                None => {
                    walk.running.insert(node.id.clone());
                    None
                }
            };
            Start::Run(
                StepRun {
                    node,
                    ctx,
                    incoming,
                    seq,
                    prior,
                },
                wait,
            )
        }
    }
}

/// One node to run.
struct StepRun<'a> {
    node: &'a PlanNode,
    /// What its expressions see: the trigger and the finished steps.
    ctx: Value,
    /// The outputs of its finished sources, by node id (what a merge outputs).
    incoming: Map<String, Value>,
    /// Unique within the execution, in the order steps started.
    seq: i32,
    /// The step as an earlier attempt left it (`retrying` or `waiting`).
    prior: Option<steps::Model>,
}

/// How a step's attempt ended, for its commit.
enum Settle {
    /// It finished (completed, or failed and continued from).
    Done(StepResult),
    /// It waits (a retry's backoff, a delay).
    Wait(Wake),
    /// It failed the execution.
    Fail(Ending<'static>),
}

/// What a step's commit writes besides the step.
#[derive(Clone, Copy)]
enum Then {
    Continue,
    /// Nothing else runs or can start: the execution completes.
    Complete,
    /// Nothing else runs or can start, but steps wait: wake it then.
    Wait(Wake),
}

/// A step's row as it is about to be written.
struct StepRecord {
    status: &'static str,
    attempts: u32,
    input: Value,
    output: Option<Value>,
    error: Option<String>,
}

enum DelayState {
    /// The wait is over: the step completes with this input and output.
    Done(Value, Value),
    /// Still waiting until then.
    Waiting(Value, chrono::DateTime<Utc>),
}

/// `action.delay` without a worker: the first run records when it ends,
/// a later one (woken at that time) completes it.
fn delay_step(
    node: &PlanNode,
    ctx: &Value,
    prior: Option<&steps::Model>,
    input_override: Option<&Value>,
) -> Result<DelayState, NodeError> {
    let now = Utc::now();
    if let Some(p) = prior.filter(|p| p.status == steps::WAITING) {
        let input = p.input.clone().unwrap_or(Value::Null);
        let until = p
            .output
            .as_ref()
            .and_then(|o| o.get("resume_at"))
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        return Ok(if until <= now {
            let waited = input.get("duration_ms").cloned().unwrap_or(json!(0));
            DelayState::Done(input, json!({"waited_ms": waited}))
        } else {
            DelayState::Waiting(input, until)
        });
    }
    let input = match input_override {
        Some(given) => given.clone(),
        None => expr::render_value(&node.config, ctx)
            .map_err(|e| NodeError::Permanent(e.to_string()))?,
    };
    let ms = input
        .get("duration_ms")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            NodeError::Permanent("duration_ms must be a whole number of milliseconds".into())
        })?;
    if ms == 0 {
        return Ok(DelayState::Done(input, json!({"waited_ms": 0})));
    }
    let until = now + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    Ok(DelayState::Waiting(input, until))
}

/// When a waiting step (a `retrying` one's next attempt, a `waiting`
/// delay's end) is due, as its row says.
fn pending_wake(step: &steps::Model) -> Option<Wake> {
    let (key, reason) = match step.status.as_str() {
        steps::RETRYING => ("next_attempt_at", wakeups::RETRY),
        steps::WAITING => ("resume_at", wakeups::DELAY),
        _ => return None,
    };
    let at = step.output.as_ref()?.get(key)?.as_str()?;
    let due = chrono::DateTime::parse_from_rfc3339(at)
        .ok()?
        .with_timezone(&Utc);
    Some(Wake { due, reason })
}

fn ending(status: &str, error: Option<String>, failed: Option<FailedStep>) -> Ending<'_> {
    Ending {
        status,
        error,
        failed,
        dead_letter: status == status::FAILED,
    }
}

fn failed_step(step: &steps::Model) -> FailedStep {
    FailedStep {
        node_id: step.node_id.clone(),
        input: step.input.clone().unwrap_or(Value::Null),
        attempts: step.attempts,
    }
}

/// What the walk does after a step.
enum NodeOutcome {
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

/// Ends the execution on `txn` unless it already ended. A failure is also
/// dead-lettered (a row, and a message on `echoflow.dlx`); under a
/// concurrency limit, the oldest waiting run of the workflow is woken.
/// Returns false when the execution had already ended (nothing is written).
pub(crate) async fn finish_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    execution: &executions::Model,
    end: &Ending<'_>,
    limited: bool,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let changed = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(end.status))
        .col_expr(executions::Column::CompletedAt, Expr::value(now))
        .col_expr(executions::Column::Error, Expr::value(end.error.clone()))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .exec(txn)
        .await?;
    if changed.rows_affected != 1 {
        return Ok(false);
    }
    let duration = execution
        .started_at
        .map(|s| (now - s).num_milliseconds())
        .unwrap_or(0);
    updates::enqueue(
        txn,
        execution,
        UpdateKind::Finished,
        end.status,
        None,
        end.error.as_deref(),
        duration,
    )
    .await?;
    if end.dead_letter {
        let error = end.error.clone().unwrap_or_default();
        let id = dead_letters::record_failed(txn, execution, end.failed.as_ref(), &error).await?;
        dead_letters::publish(txn, id, execution, end.failed.as_ref(), &error).await?;
    }
    if end.status == status::FAILED {
        updates::enqueue_failed_event(txn, execution, end.failed.as_ref(), end.error.as_deref())
            .await?;
    }
    if limited {
        wakeups::wake_next_waiting(txn, execution.workflow_id, None).await?;
    }
    Ok(true)
}

/// What claiming an execution as running found.
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// It was queued: this claim started it, then.
    Started(chrono::DateTime<Utc>),
    /// It was running already.
    Running,
    /// It has ended (cancelled): nothing may be written for it.
    Ended,
}

impl Claim {
    /// The execution as the claim leaves it; None when it has ended.
    fn applied_to(self, execution: &executions::Model) -> Option<executions::Model> {
        let mut execution = execution.clone();
        match self {
            Claim::Started(at) => {
                execution.status = status::RUNNING.to_string();
                execution.started_at = Some(at);
            }
            Claim::Running => execution.status = status::RUNNING.to_string(),
            Claim::Ended => return None,
        }
        Some(execution)
    }
}

/// queued or running -> running, on `txn`, locking the row until commit so
/// a cancel cannot slip in between.
async fn claim_running<C: sea_orm::ConnectionTrait>(
    txn: &C,
    execution: &executions::Model,
) -> Result<Claim, DbErr> {
    let now = Utc::now();
    if execution.status == status::QUEUED {
        let changed = executions::Entity::update_many()
            .col_expr(executions::Column::Status, Expr::value(status::RUNNING))
            .col_expr(executions::Column::StartedAt, Expr::value(now))
            .filter(executions::Column::Id.eq(execution.id))
            .filter(executions::Column::Status.eq(status::QUEUED))
            .exec(txn)
            .await?;
        if changed.rows_affected == 1 {
            return Ok(Claim::Started(now));
        }
    }
    let still = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(status::RUNNING))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.eq(status::RUNNING))
        .exec(txn)
        .await?;
    Ok(if still.rows_affected == 1 {
        Claim::Running
    } else {
        Claim::Ended
    })
}

/// Whether `node` runs, given which steps have results: an edge into it
/// leaves a node that ran, by a handle that node fired.
fn reached_by<'r>(
    plan: &ExecutionPlan,
    node: &PlanNode,
    fired: impl Fn(&str) -> Option<&'r StepResult>,
) -> bool {
    node.incoming.iter().any(|source_id| {
        let Some(result) = fired(source_id) else {
            return false;
        };
        let source = if plan.trigger.id == *source_id {
            Some(&plan.trigger)
        } else {
            plan.node(source_id)
        };
        source.is_some_and(|source| {
            source
                .outgoing
                .iter()
                .any(|edge| edge.target == node.id && result.handles.contains(&edge.handle))
        })
    })
}

/// The result of a step recorded by an earlier delivery of the same job.
fn replayed(node: &PlanNode, step: &steps::Model) -> StepResult {
    let output = step.output.clone().unwrap_or(Value::Null);
    let handles = if step.status == status::COMPLETED {
        nodes::handles_of(node, &output)
    } else {
        vec![Some("error".to_string())]
    };
    StepResult { output, handles }
}
