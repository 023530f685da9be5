//! One attempt of a node: runs it (a delay without a worker), decides from
//! its outcome whether it completed, failed, waits for a retry, or fails the
//! execution, and hands that to the step ledger.

use chrono::Utc;
use echoflow_domain::OnError;
use sea_orm::DbErr;
use serde_json::json;
use std::time::Instant;

use super::Engine;
use super::finish::ending;
use super::ledger::{NodeOutcome, Settle, StepRecord};
use super::nodes::{
    self, Handler,
    context::StepScope,
    delay::{DelayState, delay_step},
};
use super::ready::{Shared, StepResult, Wake};
use super::replay::StepRun;
use super::retry;
use crate::store::dead_letters::FailedStep;
use crate::store::{status, steps, wakeups};

impl Engine {
    /// Runs one attempt of a node, then commits its step. A failed attempt
    /// that may be retried is recorded `retrying`, due again after its
    /// backoff; a delay is recorded `waiting` until its end.
    pub(super) async fn attempt(
        &self,
        shared: &Shared<'_>,
        step: &StepRun<'_>,
    ) -> Result<NodeOutcome, DbErr> {
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

        let (input, outcome) = if nodes::handler(node.node_type) == Handler::Delay {
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
            && let Some(delay) = retry::next_delay(node.policy.retry.as_ref(), e, attempts)
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
}
