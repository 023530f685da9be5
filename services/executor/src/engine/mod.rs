//! Runs one execution: walks the compiled plan from the trigger, runs each
//! reached node with its retry and timeout policy, and records every step in
//! the same transaction as its ExecutionUpdate. A step already recorded is
//! never run again when a job is redelivered: its output is reused.

pub mod ai;
pub mod chat;
pub mod http;
pub mod network;
pub mod nodes;
pub mod policy;
pub mod retention;
pub mod waker;

use chrono::Utc;
use echoflow_bus::outbox::OutboxHandle;
use echoflow_contracts::{ExecutionJob, UpdateKind};
use echoflow_domain::{ExecutionPlan, OnError, PlanNode, expr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Statement,
    TransactionTrait, sea_query::Expr,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// A cancelled execution is checked for this often while a step runs.
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
        let mut starting = execution.status == status::QUEUED;
        // Steps are only recorded once the execution runs: a queued one has
        // none, unless it is a retry that carries its original's.
        let recorded = if starting && execution.retry_of.is_none() {
            Vec::new()
        } else {
            steps::of_execution(&self.db, execution.id).await?
        };
        let mut seq = recorded.iter().map(|s| s.seq).max().unwrap_or(0);
        let mut recorded: HashMap<String, steps::Model> = recorded
            .into_iter()
            .map(|s| (s.node_id.clone(), s))
            .collect();

        let mut ctx_steps = Map::new();
        let trigger = execution.trigger.clone();
        let mut results: HashMap<String, StepResult> = HashMap::new();
        results.insert(
            plan.trigger.id.clone(),
            StepResult {
                output: trigger.get("data").cloned().unwrap_or(Value::Null),
                handles: vec![None],
            },
        );
        for (index, node) in plan.nodes.iter().enumerate() {
            if !is_reached(&plan, node, &results) {
                continue;
            }
            let prior = recorded.remove(&node.id);
            let result = match prior {
                // A step that failed the execution before a crash cut the
                // run short: finish the execution as it would have.
                Some(step)
                    if step.status == status::FAILED && node.policy.on_error == OnError::Fail =>
                {
                    let message = format!(
                        "step '{}' failed: {}",
                        node.id,
                        step.error.clone().unwrap_or_default()
                    );
                    let failed = failed_step(&step);
                    self.finish(
                        &execution,
                        ending(status::FAILED, Some(message), Some(failed)),
                        limited,
                    )
                    .await?;
                    return Ok(());
                }
                Some(step) if steps::is_final(&step.status) => {
                    starting = false;
                    replayed(node, &step)
                }
                prior => {
                    if prior.is_none() {
                        seq += 1;
                    }
                    let ctx =
                        json!({"trigger": trigger, "steps": Value::Object(ctx_steps.clone())});
                    let later = &plan.nodes[index + 1..];
                    let is_last = |result: &StepResult| {
                        !later
                            .iter()
                            .any(|n| is_reached_with(&plan, n, &results, (&node.id, result)))
                    };
                    let step = StepRun {
                        node,
                        ctx: &ctx,
                        seq,
                        prior: prior.as_ref(),
                        starting,
                        limited,
                    };
                    let outcome = self.run_node(&execution, step, &results, is_last).await?;
                    if starting {
                        starting = false;
                        execution.status = status::RUNNING.to_string();
                        execution.started_at.get_or_insert_with(Utc::now);
                    }
                    match outcome {
                        NodeOutcome::Continue(result) => result,
                        NodeOutcome::Finished | NodeOutcome::Suspended => return Ok(()),
                    }
                }
            };
            ctx_steps.insert(node.id.clone(), json!({"output": result.output}));
            results.insert(node.id.clone(), result);
        }
        if starting {
            execution = self.start(execution).await?;
        }
        self.finish(&execution, ending(status::COMPLETED, None, None), limited)
            .await?;
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
            let (execution, started) = claim_running(&txn, execution.clone()).await?;
            wakeups::cancel(&txn, execution.id).await?;
            txn.commit().await?;
            if started.is_none() {
                return Ok(None);
            }
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
    async fn start(&self, execution: executions::Model) -> Result<executions::Model, DbErr> {
        let txn = self.db.begin().await?;
        let (execution, started) = claim_running(&txn, execution).await?;
        txn.commit().await?;
        if started == Some(true) {
            self.announce_started(&execution);
        }
        Ok(execution)
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

    /// Runs the node once; None when the execution was cancelled while it
    /// ran (the step's in-flight work, an HTTP request say, is dropped).
    async fn run_watched(
        &self,
        execution: &executions::Model,
        node: &PlanNode,
        ctx: &Value,
        incoming: &Map<String, Value>,
        scope: &StepScope<'_>,
    ) -> Result<Option<(Value, Result<Value, NodeError>)>, DbErr> {
        let work = self.nodes.run(node, ctx, incoming, scope);
        tokio::pin!(work);
        let mut poll =
            tokio::time::interval_at(tokio::time::Instant::now() + CANCEL_POLL, CANCEL_POLL);
        loop {
            tokio::select! {
                done = &mut work => return Ok(Some(done)),
                _ = poll.tick() => {
                    if self.has_ended(execution.id).await? {
                        tracing::info!(node_id = %node.id, "execution cancelled during the step");
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Runs one attempt of a node and records the step. A failed attempt
    /// that may be retried records the step as `retrying` and a wake-up at
    /// its backoff, then lets go of the worker; a delay records `waiting`
    /// and a wake-up at its end. When the step ends the execution (it
    /// failed, or `is_last` says nothing runs after it) the end commits in
    /// the same transaction.
    async fn run_node(
        &self,
        execution: &executions::Model,
        step: StepRun<'_>,
        results: &HashMap<String, StepResult>,
        is_last: impl Fn(&StepResult) -> bool,
    ) -> Result<NodeOutcome, DbErr> {
        let node = step.node;
        let now = Utc::now();
        // A delivery that comes before a retry's wait is over (a duplicate)
        // leaves the wait as it is: its wake-up still stands.
        if let Some(at) = step.prior.and_then(next_attempt_at)
            && at > now
        {
            return Ok(NodeOutcome::Suspended);
        }
        let started_at = step.prior.map_or(now, |p| p.started_at);
        let seq = step.prior.map_or(step.seq, |p| p.seq);
        let attempts = step
            .prior
            .map_or(0, |p| u32::try_from(p.attempts).unwrap_or(0))
            + 1;
        let clock = Instant::now();
        let incoming: Map<String, Value> = node
            .incoming
            .iter()
            .filter_map(|id| results.get(id).map(|r| (id.clone(), r.output.clone())))
            .collect();
        let step_key = format!("{}:{}", execution.id, node.id);
        let input_override = execution
            .step_inputs
            .as_ref()
            .and_then(|inputs| inputs.get(&node.id));

        let (input, outcome) = if node.node_type == "action.delay" {
            match delay_step(node, step.ctx, step.prior, input_override) {
                Ok(DelayState::Done(input, output)) => (input, Ok(output)),
                Ok(DelayState::Waiting(input, until)) => {
                    let record = StepRecord {
                        status: steps::WAITING,
                        attempts: 1,
                        input,
                        output: Some(json!({"resume_at": until.to_rfc3339()})),
                        error: None,
                    };
                    return self
                        .suspend(
                            execution,
                            &step,
                            record,
                            started_at,
                            seq,
                            until,
                            wakeups::DELAY,
                        )
                        .await;
                }
                Err(e) => (node.config.clone(), Err(e)),
            }
        } else {
            let scope = StepScope {
                key: &step_key,
                chatbot_id: execution.chatbot_id,
                input_override,
            };
            match self
                .run_watched(execution, node, step.ctx, &incoming, &scope)
                .await?
            {
                Some(done) => done,
                None => return Ok(NodeOutcome::Finished),
            }
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
            return self
                .suspend(
                    execution,
                    &step,
                    record,
                    started_at,
                    seq,
                    due,
                    wakeups::RETRY,
                )
                .await;
        }
        let (step_status, output, error, result) = match outcome {
            Ok(output) => {
                let handles = nodes::handles_of(node, &output);
                (
                    status::COMPLETED,
                    Some(output.clone()),
                    None,
                    Ok(StepResult { output, handles }),
                )
            }
            Err(e) => {
                let message = e.to_string();
                if node.policy.on_error == OnError::Continue {
                    let output = json!({"error": message, "class": e.class()});
                    (
                        status::FAILED,
                        Some(output.clone()),
                        Some(message),
                        Ok(StepResult {
                            output,
                            handles: vec![Some("error".to_string())],
                        }),
                    )
                } else {
                    (status::FAILED, None, Some(message.clone()), Err(message))
                }
            }
        };
        let end = match &result {
            Ok(r) if is_last(r) => Some(ending(status::COMPLETED, None, None)),
            Ok(_) => None,
            Err(message) => Some(ending(
                status::FAILED,
                Some(format!("step '{}' failed: {message}", node.id)),
                Some(FailedStep {
                    node_id: node.id.clone(),
                    input: input.clone(),
                    attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
                }),
            )),
        };
        let record = StepRecord {
            status: step_status,
            attempts,
            input,
            output,
            error,
        };
        let txn = self.db.begin().await?;
        let Some((execution, started)) = self
            .record_step(
                &txn,
                execution,
                &step,
                &record,
                started_at,
                seq,
                duration_ms,
            )
            .await?
        else {
            return Ok(NodeOutcome::Finished);
        };
        if let Some(end) = &end {
            finish_in(&txn, &execution, end, step.limited).await?;
        }
        txn.commit().await?;
        if started {
            self.announce_started(&execution);
        }
        updates::announce(
            &self.bus,
            &execution,
            UpdateKind::StepFinished,
            step_status,
            Some(&node.id),
            duration_ms,
        );
        match end {
            Some(end) => {
                self.relay.notify();
                if step.limited {
                    self.waker.due_at(Utc::now());
                }
                tracing::info!(status = end.status, error = end.error, "execution finished");
                Ok(NodeOutcome::Finished)
            }
            None => match result {
                Ok(r) => Ok(NodeOutcome::Continue(r)),
                Err(_) => Ok(NodeOutcome::Finished),
            },
        }
    }

    /// Writes the step (one row per node, updated across attempts) after
    /// claiming the execution as running; None when it ended meanwhile (a
    /// cancel), in which case nothing is written.
    #[allow(clippy::too_many_arguments)]
    async fn record_step(
        &self,
        txn: &DatabaseTransaction,
        execution: &executions::Model,
        step: &StepRun<'_>,
        record: &StepRecord,
        started_at: chrono::DateTime<Utc>,
        seq: i32,
        duration_ms: i64,
    ) -> Result<Option<(executions::Model, bool)>, DbErr> {
        let (execution, started) = claim_running(txn, execution.clone()).await?;
        let Some(started) = started else {
            return Ok(None);
        };
        steps::upsert(
            txn,
            steps::Model {
                execution_id: execution.id,
                node_id: step.node.id.clone(),
                seq,
                node_type: step.node.node_type.clone(),
                status: record.status.to_string(),
                attempts: i32::try_from(record.attempts).unwrap_or(i32::MAX),
                input: Some(record.input.clone()),
                output: record.output.clone(),
                error: record.error.clone(),
                started_at,
                completed_at: steps::is_final(record.status).then(Utc::now),
                duration_ms: Some(duration_ms),
            },
        )
        .await?;
        Ok(Some((execution, started && step.starting)))
    }

    /// Records a step that waits and the wake-up that resumes it; the job is
    /// then acknowledged and no worker is held.
    #[allow(clippy::too_many_arguments)]
    async fn suspend(
        &self,
        execution: &executions::Model,
        step: &StepRun<'_>,
        record: StepRecord,
        started_at: chrono::DateTime<Utc>,
        seq: i32,
        due: chrono::DateTime<Utc>,
        reason: &str,
    ) -> Result<NodeOutcome, DbErr> {
        let txn = self.db.begin().await?;
        let Some((execution, started)) = self
            .record_step(&txn, execution, step, &record, started_at, seq, 0)
            .await?
        else {
            return Ok(NodeOutcome::Finished);
        };
        wakeups::schedule(&txn, execution.id, execution.workflow_id, due, reason).await?;
        txn.commit().await?;
        if started {
            self.announce_started(&execution);
        }
        updates::announce(
            &self.bus,
            &execution,
            UpdateKind::StepFinished,
            record.status,
            Some(&step.node.id),
            0,
        );
        self.waker.due_at(due);
        Ok(NodeOutcome::Suspended)
    }
}

/// One node to run, and where the walk stands.
struct StepRun<'a> {
    node: &'a PlanNode,
    ctx: &'a Value,
    seq: i32,
    /// The step as an earlier attempt left it (`retrying` or `waiting`).
    prior: Option<&'a steps::Model>,
    /// The execution is still `queued`: this step starts it.
    starting: bool,
    /// The workflow has a concurrency limit.
    limited: bool,
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

/// When a `retrying` step's next attempt is due.
fn next_attempt_at(step: &steps::Model) -> Option<chrono::DateTime<Utc>> {
    if step.status != steps::RETRYING {
        return None;
    }
    let at = step.output.as_ref()?.get("next_attempt_at")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
    Continue(StepResult),
    Finished,
    /// The execution waits (a retry's backoff, a delay); a wake-up resumes it.
    Suspended,
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

/// queued or running -> running, on `txn`, locking the row until commit so
/// a cancel cannot slip in between. Returns the execution and `Some(true)`
/// when this started it, `Some(false)` when it was running already, None
/// when it has ended (cancelled).
async fn claim_running<C: sea_orm::ConnectionTrait>(
    txn: &C,
    mut execution: executions::Model,
) -> Result<(executions::Model, Option<bool>), DbErr> {
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
            execution.status = status::RUNNING.to_string();
            execution.started_at = Some(now);
            return Ok((execution, Some(true)));
        }
    }
    let still = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(status::RUNNING))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.eq(status::RUNNING))
        .exec(txn)
        .await?;
    if still.rows_affected == 1 {
        execution.status = status::RUNNING.to_string();
        Ok((execution, Some(false)))
    } else {
        Ok((execution, None))
    }
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

fn is_reached(
    plan: &ExecutionPlan,
    node: &PlanNode,
    results: &HashMap<String, StepResult>,
) -> bool {
    reached_by(plan, node, |id| results.get(id))
}

/// Whether `node` would run if the step `just` (id, result) were recorded too.
fn is_reached_with(
    plan: &ExecutionPlan,
    node: &PlanNode,
    results: &HashMap<String, StepResult>,
    just: (&str, &StepResult),
) -> bool {
    reached_by(plan, node, |id| {
        if id == just.0 {
            Some(just.1)
        } else {
            results.get(id)
        }
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
