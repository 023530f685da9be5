//! A ready node at its start: replayed when an earlier delivery of the job
//! finished it (its output is reused, it never runs again), left waiting
//! when its wait is not over, else handed over to run.

use chrono::Utc;
use echoflow_domain::{OnError, PlanNode};
use serde_json::{Map, Value, json};

use super::nodes;
use super::ready::{Shared, StepResult, Wake};
use crate::store::{status, steps, wakeups};

/// What the walk does with a ready node.
pub(super) enum Start<'p> {
    /// Run it, after its wait when it still waits.
    Run(StepRun<'p>, Option<Wake>),
    /// An earlier delivery finished it (replayed).
    Settled,
    /// An earlier delivery recorded it failing the execution.
    FailedBefore(steps::Model),
}

/// Starts `node`: replays it when an earlier delivery finished it, leaves
/// it waiting when its wait is not over, or hands it over to run.
pub(super) fn start_step<'p>(
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
pub(super) struct StepRun<'a> {
    pub(super) node: &'a PlanNode,
    /// What its expressions see: the trigger and the finished steps.
    pub(super) ctx: Value,
    /// The outputs of its finished sources, by node id (what a merge outputs).
    pub(super) incoming: Map<String, Value>,
    /// Unique within the execution, in the order steps started.
    pub(super) seq: i32,
    /// The step as an earlier attempt left it (`retrying` or `waiting`).
    pub(super) prior: Option<steps::Model>,
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
