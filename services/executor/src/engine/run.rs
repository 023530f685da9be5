//! One job: reads the execution and its plan, admits it under its
//! workflow's concurrency limit, and walks it from the trigger.

use echoflow_contracts::ExecutionJob;
use echoflow_domain::ExecutionPlan;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

use super::finish::{Ending, ending};
use super::ready::{Shared, StepResult, Walk};
use super::{Engine, EngineError};
use crate::store::executions::{self, JobIds};
use crate::store::{status, steps};

impl Engine {
    #[tracing::instrument(skip_all, fields(execution_id = %job.execution_id, workflow_id = %job.workflow_id))]
    pub async fn run(&self, job: &ExecutionJob) -> Result<(), EngineError> {
        let ids = JobIds::parse(job).map_err(EngineError::Malformed)?;
        let mut execution = executions::ensure_queued(&self.db, job, &ids).await?;
        if status::is_terminal(&execution.status) {
            tracing::debug!(status = %execution.status, "already finished; duplicate delivery ignored");
            return Ok(());
        }
        // A job that was on its way when its chatbot was deleted.
        if crate::store::erasure::is_retired(&self.db, ids.chatbot_id).await? {
            let reason = crate::store::erasure::CHATBOT_DELETED.to_string();
            let end = ending(status::CANCELLED, Some(reason), None);
            self.finish(&execution, end, false).await?;
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
}
