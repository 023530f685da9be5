//! Where one execution's walk stands, shared by the steps that run at
//! once, and which of the plan's nodes are ready to run.

use chrono::Utc;
use echoflow_domain::{ExecutionPlan, PlanNode};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio_util::sync::CancellationToken;

use crate::store::executions;

/// What a finished (or earlier recorded) step leaves for the steps after it.
pub(super) struct StepResult {
    pub(super) output: Value,
    pub(super) handles: Vec<Option<String>>,
}

/// One execution's walk, shared by the steps that run at once.
pub(super) struct Shared<'p> {
    pub(super) plan: &'p ExecutionPlan,
    /// The workflow has a concurrency limit.
    pub(super) limited: bool,
    /// Locked only between awaits, never across one.
    pub(super) walk: Mutex<Walk>,
    /// Steps commit one at a time, so each decides from the commits before
    /// it whether it is the last.
    pub(super) turn: tokio::sync::Mutex<()>,
    /// Cancelled once the execution is parked (its wake-up written): the
    /// steps that wait in the walk stop waiting, and the walk ends.
    pub(super) parked: CancellationToken,
}

impl Shared<'_> {
    pub(super) fn walk(&self) -> MutexGuard<'_, Walk> {
        self.walk.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where one execution's walk stands.
pub(super) struct Walk {
    /// The execution as the last commit left it.
    pub(super) execution: Arc<executions::Model>,
    /// The trigger and every finished step (completed, or failed and
    /// continued from): its output and the handles it fired.
    pub(super) results: HashMap<String, StepResult>,
    /// `{node_id: {"output": ..}}` of the finished steps, for expressions.
    pub(super) ctx_steps: Map<String, Value>,
    /// Steps started and not committed yet.
    pub(super) running: HashSet<String>,
    /// Steps that wait (a retry's backoff, a delay), and until when.
    pub(super) waiting: HashMap<String, Wake>,
    /// A step failed or completed the execution, or it was cancelled.
    pub(super) ended: bool,
    /// Queued, and no step replayed: the commit that starts it announces it.
    pub(super) starting: bool,
    /// A commit scheduled the execution's wake-up: nothing else ran then.
    pub(super) wake_scheduled: bool,
}

impl Walk {
    pub(super) fn finished(&mut self, node_id: &str, result: StepResult) {
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
    pub(super) fn ready<'s, 'p>(
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
    pub(super) fn after(
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
    pub(super) fn earliest_wake(&self, also: Option<Wake>) -> Option<Wake> {
        self.waiting
            .values()
            .copied()
            .chain(also)
            .min_by_key(|wake| wake.due)
    }
}

/// When a waiting step is due again, and why it waits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wake {
    pub(super) due: chrono::DateTime<Utc>,
    pub(super) reason: &'static str,
}

/// What a step's commit writes besides the step.
#[derive(Clone, Copy)]
pub(super) enum Then {
    Continue,
    /// Nothing else runs or can start: the execution completes.
    Complete,
    /// Nothing else runs or can start, but steps wait: wake it then.
    Wait(Wake),
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
