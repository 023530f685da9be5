//! Runs one execution: walks the compiled plan from the trigger, runs each
//! reached node with its retry and timeout policy, and records every step in
//! the same transaction as its ExecutionUpdate. A step already recorded is
//! never run again when a job is redelivered: its output is reused.

pub mod chat;
pub mod http;
pub mod network;
pub mod nodes;

use chrono::Utc;
use echoflow_bus::outbox::OutboxHandle;
use echoflow_contracts::{ExecutionJob, UpdateKind};
use echoflow_domain::{ExecutionPlan, OnError, PlanNode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait, sea_query::Expr,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::executions::{self, JobIds};
use crate::store::{status, steps};
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
}

/// What a finished (or earlier recorded) step leaves for the steps after it.
struct StepResult {
    output: Value,
    handles: Vec<Option<String>>,
}

impl Engine {
    #[tracing::instrument(skip_all, fields(execution_id = %job.execution_id, workflow_id = %job.workflow_id))]
    pub async fn run(&self, job: &ExecutionJob) -> Result<(), EngineError> {
        let ids = JobIds::parse(job).map_err(EngineError::Malformed)?;
        let execution = executions::ensure_queued(&self.db, job, &ids).await?;
        if status::is_terminal(&execution.status) {
            tracing::debug!(status = %execution.status, "already finished; duplicate delivery ignored");
            return Ok(());
        }
        let plan: ExecutionPlan = match serde_json::from_str(&job.plan_json) {
            Ok(plan) => plan,
            Err(e) => {
                let reason = format!("the job's plan is unreadable: {e}");
                self.finish(&execution, status::FAILED, Some(&reason))
                    .await?;
                return Err(EngineError::Malformed(reason));
            }
        };
        // The switch to `running` commits with the first step, not alone.
        let mut starting = execution.status == status::QUEUED;
        let mut execution = execution;
        // Steps are only recorded once the execution runs: a queued one has none.
        let recorded = if starting {
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
            let result = match recorded.remove(&node.id) {
                // A step that failed the execution before a crash cut the
                // run short: finish the execution as it would have.
                Some(step)
                    if step.status == status::FAILED && node.policy.on_error == OnError::Fail =>
                {
                    let message = format!(
                        "step '{}' failed: {}",
                        node.id,
                        step.error.unwrap_or_default()
                    );
                    self.finish(&execution, status::FAILED, Some(&message))
                        .await?;
                    return Ok(());
                }
                Some(step) => {
                    starting = false;
                    replayed(node, &step)
                }
                None => {
                    seq += 1;
                    let ctx =
                        json!({"trigger": trigger, "steps": Value::Object(ctx_steps.clone())});
                    let later = &plan.nodes[index + 1..];
                    let is_last = |result: &StepResult| {
                        !later
                            .iter()
                            .any(|n| is_reached_with(&plan, n, &results, (&node.id, result)))
                    };
                    let outcome = self
                        .run_node(&execution, node, &ctx, seq, &results, starting, is_last)
                        .await?;
                    if starting {
                        starting = false;
                        execution.status = status::RUNNING.to_string();
                        execution.started_at.get_or_insert_with(Utc::now);
                    }
                    match outcome {
                        NodeOutcome::Continue(result) => result,
                        NodeOutcome::Finished => return Ok(()),
                    }
                }
            };
            ctx_steps.insert(node.id.clone(), json!({"output": result.output}));
            results.insert(node.id.clone(), result);
        }
        if starting {
            execution = self.start(execution).await?;
        }
        self.finish(&execution, status::COMPLETED, None).await?;
        Ok(())
    }

    /// Marks an execution that ran no step running, in a transaction of its own.
    async fn start(&self, execution: executions::Model) -> Result<executions::Model, DbErr> {
        let txn = self.db.begin().await?;
        let (execution, started) = mark_running(&txn, execution).await?;
        txn.commit().await?;
        if started {
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

    /// Ends the execution with `final_status` unless it already ended.
    async fn finish(
        &self,
        execution: &executions::Model,
        final_status: &str,
        error: Option<&str>,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        finish_in(&txn, execution, final_status, error).await?;
        txn.commit().await?;
        self.relay.notify();
        tracing::info!(status = final_status, error, "execution finished");
        Ok(())
    }

    /// Runs one node with its policy and records the step. When the step
    /// ends the execution (it failed, or `is_last` says nothing runs after
    /// it) the execution's end commits in the same transaction.
    #[allow(clippy::too_many_arguments)]
    async fn run_node(
        &self,
        execution: &executions::Model,
        node: &PlanNode,
        ctx: &Value,
        seq: i32,
        results: &HashMap<String, StepResult>,
        starting: bool,
        is_last: impl Fn(&StepResult) -> bool,
    ) -> Result<NodeOutcome, DbErr> {
        let started_at = Utc::now();
        let clock = Instant::now();
        let incoming: Map<String, Value> = node
            .incoming
            .iter()
            .filter_map(|id| results.get(id).map(|r| (id.clone(), r.output.clone())))
            .collect();
        let max_attempts = node
            .policy
            .retry
            .as_ref()
            .map_or(1, |r| r.max_attempts.max(1));
        let step_key = format!("{}:{}", execution.id, node.id);
        let mut attempts = 0u32;
        let (input, outcome) = loop {
            attempts += 1;
            let scope = StepScope {
                key: &step_key,
                chatbot_id: execution.chatbot_id,
            };
            let (input, outcome) = self.nodes.run(node, ctx, &incoming, &scope).await;
            match &outcome {
                Err(NodeError::Retryable(_)) if attempts < max_attempts => {
                    let delay = node
                        .policy
                        .retry
                        .as_ref()
                        .map_or(Duration::ZERO, |r| r.delay_for(attempts));
                    tracing::info!(node_id = %node.id, attempts, ?delay, "step failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                _ => break (input, outcome),
            }
        };
        let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
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
                    let output = json!({"error": message});
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
        let ending = match &result {
            Ok(r) if is_last(r) => Some((status::COMPLETED, None)),
            Ok(_) => None,
            Err(message) => Some((
                status::FAILED,
                Some(format!("step '{}' failed: {message}", node.id)),
            )),
        };
        let txn = self.db.begin().await?;
        let (execution, started) = if starting {
            mark_running(&txn, execution.clone()).await?
        } else {
            (execution.clone(), false)
        };
        let execution = &execution;
        steps::ActiveModel {
            execution_id: Set(execution.id),
            node_id: Set(node.id.clone()),
            seq: Set(seq),
            node_type: Set(node.node_type.clone()),
            status: Set(step_status.to_string()),
            attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
            input: Set(Some(input)),
            output: Set(output),
            error: Set(error.clone()),
            started_at: Set(started_at),
            completed_at: Set(Some(Utc::now())),
            duration_ms: Set(Some(duration_ms)),
        }
        .insert(&txn)
        .await?;

        if let Some((final_status, error)) = &ending {
            finish_in(&txn, execution, final_status, error.as_deref()).await?;
        }
        txn.commit().await?;
        if started {
            self.announce_started(execution);
        }
        updates::announce(
            &self.bus,
            execution,
            UpdateKind::StepFinished,
            step_status,
            Some(&node.id),
            duration_ms,
        );
        match ending {
            Some((final_status, error)) => {
                self.relay.notify();
                tracing::info!(status = final_status, error, "execution finished");
                Ok(NodeOutcome::Finished)
            }
            None => match result {
                Ok(r) => Ok(NodeOutcome::Continue(r)),
                Err(_) => Ok(NodeOutcome::Finished),
            },
        }
    }
}

/// What the walk does after a step.
enum NodeOutcome {
    Continue(StepResult),
    Finished,
}

/// Ends the execution on `txn` with `final_status` unless it already ended.
async fn finish_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    execution: &executions::Model,
    final_status: &str,
    error: Option<&str>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let changed = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(final_status))
        .col_expr(executions::Column::CompletedAt, Expr::value(now))
        .col_expr(
            executions::Column::Error,
            Expr::value(error.map(str::to_string)),
        )
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.is_in([status::QUEUED, status::RUNNING]))
        .exec(txn)
        .await?;
    if changed.rows_affected == 1 {
        let duration = execution
            .started_at
            .map(|s| (now - s).num_milliseconds())
            .unwrap_or(0);
        updates::enqueue(
            txn,
            execution,
            UpdateKind::Finished,
            final_status,
            None,
            error,
            duration,
        )
        .await?;
    }
    Ok(())
}

/// queued -> running (once), with its `started` update, on `txn`.
async fn mark_running<C: sea_orm::ConnectionTrait>(
    txn: &C,
    mut execution: executions::Model,
) -> Result<(executions::Model, bool), DbErr> {
    let now = Utc::now();
    let changed = executions::Entity::update_many()
        .col_expr(executions::Column::Status, Expr::value(status::RUNNING))
        .col_expr(executions::Column::StartedAt, Expr::value(now))
        .filter(executions::Column::Id.eq(execution.id))
        .filter(executions::Column::Status.eq(status::QUEUED))
        .exec(txn)
        .await?;
    let started = changed.rows_affected == 1;
    if started {
        execution.status = status::RUNNING.to_string();
        execution.started_at = Some(now);
    }
    Ok((execution, started))
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
