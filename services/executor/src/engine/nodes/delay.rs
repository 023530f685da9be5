//! `action.delay`: runs without a worker. The first attempt records when
//! the delay ends and the execution waits; the attempt woken then completes
//! it. The dispatcher never sees this kind: the attempt handles it.

use chrono::Utc;
use echoflow_domain::{PlanNode, expr};
use serde_json::{Value, json};

use super::context::NodeError;
use crate::store::steps;

pub(crate) enum DelayState {
    /// The wait is over: the step completes with this input and output.
    Done(Value, Value),
    /// Still waiting until then.
    Waiting(Value, chrono::DateTime<Utc>),
}

/// `action.delay` without a worker: the first run records when it ends,
/// a later one (woken at that time) completes it.
pub(crate) fn delay_step(
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
