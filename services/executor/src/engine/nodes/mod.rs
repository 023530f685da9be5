//! What each node kind does: [`handler`] is the one exhaustive table from
//! node kind to handler, and the dispatcher runs a node once, with its
//! timeout and output limit, by its handler. The kinds that only evaluate
//! (`condition.if`, `condition.switch`, `flow.merge`, `action.set`) are
//! here; each kind that calls out has its own file. (`action.delay` never
//! comes here: an attempt runs it through `delay`, without a worker.)

pub mod ai;
pub mod chat;
pub mod context;
pub mod delay;
pub mod http;
pub mod integrations;
pub mod network;
pub mod respond;

use echoflow_domain::{IntegrationAction, NodeKind, PlanNode, expr};
use serde_json::{Map, Value, json};
use std::time::Duration;

use ai::AiNode;
use chat::ChatNode;
use context::{NodeError, StepScope};
use http::HttpNode;
use integrations::IntegrationsNode;

/// Runs nodes.
#[derive(Clone)]
pub struct NodeRunner {
    pub http: HttpNode,
    pub chat: ChatNode,
    pub ai: AiNode,
    pub integrations: IntegrationsNode,
    /// Largest output a step may record, in JSON bytes.
    pub max_output_bytes: usize,
}

impl NodeRunner {
    /// Runs `node` once; returns the step's input (its resolved config) and
    /// outcome.
    pub async fn run(
        &self,
        node: &PlanNode,
        ctx: &Value,
        incoming: &Map<String, Value>,
        step: &StepScope<'_>,
    ) -> (Value, Result<Value, NodeError>) {
        let (input, outcome) = self.run_unchecked(node, ctx, incoming, step).await;
        let outcome = outcome.and_then(|output| self.check_size(output));
        (input, outcome)
    }

    /// An output over the limit fails the step with its size: never truncated.
    fn check_size(&self, output: Value) -> Result<Value, NodeError> {
        let size = serde_json::to_vec(&output).map_or(0, |b| b.len());
        if size > self.max_output_bytes {
            return Err(NodeError::Permanent(format!(
                "the step's output is {size} bytes, over the limit of {} (executor.max_output_bytes)",
                self.max_output_bytes
            )));
        }
        Ok(output)
    }

    async fn run_unchecked(
        &self,
        node: &PlanNode,
        ctx: &Value,
        incoming: &Map<String, Value>,
        step: &StepScope<'_>,
    ) -> (Value, Result<Value, NodeError>) {
        let work = match handler(node.node_type) {
            Handler::If => {
                let condition = node.config.get("condition").cloned().unwrap_or(Value::Null);
                let input = json!({"condition": condition});
                let outcome = condition
                    .as_str()
                    .ok_or_else(|| NodeError::Permanent("condition must be a string".into()))
                    .and_then(|c| {
                        expr::eval_condition(c, ctx)
                            .map_err(|e| NodeError::Permanent(e.to_string()))
                    })
                    .map(|result| json!({"result": result}));
                return (input, outcome);
            }
            Handler::Switch => {
                let cases = node.config.get("cases").cloned().unwrap_or(json!([]));
                let outcome = switch(&cases, ctx);
                return (json!({"cases": cases}), outcome);
            }
            Handler::Merge => return (json!({}), Ok(Value::Object(incoming.clone()))),
            Handler::Trigger | Handler::Delay => {
                return (
                    node.config.clone(),
                    Err(NodeError::Permanent(format!(
                        "node type '{}' cannot run in this executor",
                        node.node_type
                    ))),
                );
            }
            Handler::Rendered(work) => work,
        };
        let rendered = match step.input_override {
            Some(given) => Ok(given.clone()),
            None => expr::render_value(&node.config, ctx),
        };
        let input = match rendered {
            Ok(v) => v,
            Err(e) => {
                return (
                    node.config.clone(),
                    Err(NodeError::Permanent(e.to_string())),
                );
            }
        };
        let run = self.work(work, &input, ctx, step);
        let outcome = match node.policy.timeout_ms.map(Duration::from_millis) {
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                Err(NodeError::Transient(format!(
                    "timed out after {} ms",
                    limit.as_millis()
                )))
            }),
            None => run.await,
        };
        (input, outcome)
    }

    /// Runs a kind that works on its rendered config.
    async fn work(
        &self,
        work: Work,
        input: &Value,
        ctx: &Value,
        step: &StepScope<'_>,
    ) -> Result<Value, NodeError> {
        match work {
            Work::Set => Ok(input.get("values").cloned().unwrap_or(json!({}))),
            Work::Http => self.http.call(input, step.key).await,
            Work::Ai => self.ai.generate(input).await,
            Work::SendMessage => self.chat.send_message(input, ctx, step).await,
            Work::TagConversation => self.chat.tag_conversation(input, ctx, step).await,
            Work::Respond => respond::reply(input),
            Work::Integration(action) => {
                let execution_id = step.key.split(':').next().unwrap_or_default();
                self.integrations
                    .call(action, input, execution_id, step)
                    .await
            }
        }
    }
}

/// How a node kind runs. The one exhaustive table of the executor: a kind
/// added to the catalogue without a handler here does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// A trigger starts a run; it is never one of its steps.
    Trigger,
    /// `action.delay` waits without a worker: the attempt runs it (`delay.rs`).
    Delay,
    /// `condition.if`, evaluated here.
    If,
    /// `condition.switch`, evaluated here.
    Switch,
    /// `flow.merge`: the incoming outputs by node id.
    Merge,
    /// Works on its rendered config, within the step's timeout.
    Rendered(Work),
}

/// The kinds that work on their rendered config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// `action.set`, evaluated here.
    Set,
    Http,
    Ai,
    SendMessage,
    TagConversation,
    /// `action.respond`: the answer to a waiting webhook caller, checked here.
    Respond,
    /// Run by the integrations service.
    Integration(IntegrationAction),
}

/// The handler of `kind`.
pub fn handler(kind: NodeKind) -> Handler {
    use NodeKind::*;
    match kind {
        TriggerWebhook
        | TriggerManual
        | TriggerSchedule
        | TriggerEvent
        | TriggerConversationStarted
        | TriggerMessageReceived
        | TriggerSentiment
        | TriggerIntentDetected
        | TriggerImageUploaded => Handler::Trigger,
        ActionDelay => Handler::Delay,
        ConditionIf => Handler::If,
        ConditionSwitch => Handler::Switch,
        FlowMerge => Handler::Merge,
        ActionSet => Handler::Rendered(Work::Set),
        ActionHttpRequest => Handler::Rendered(Work::Http),
        ActionAiText => Handler::Rendered(Work::Ai),
        ActionSendMessage => Handler::Rendered(Work::SendMessage),
        ActionTagConversation => Handler::Rendered(Work::TagConversation),
        ActionRespond => Handler::Rendered(Work::Respond),
        ActionSlackPostMessage => integration(IntegrationAction::SlackPostMessage),
        ActionHubspotCreateContact => integration(IntegrationAction::HubspotCreateContact),
        ActionSheetsAppendRow => integration(IntegrationAction::SheetsAppendRow),
        ActionSalesforceCreateLead => integration(IntegrationAction::SalesforceCreateLead),
    }
}

fn integration(action: IntegrationAction) -> Handler {
    Handler::Rendered(Work::Integration(action))
}

fn switch(cases: &Value, ctx: &Value) -> Result<Value, NodeError> {
    for case in cases.as_array().map(Vec::as_slice).unwrap_or_default() {
        let condition = case
            .get("condition")
            .and_then(Value::as_str)
            .unwrap_or("false");
        if expr::eval_condition(condition, ctx).map_err(|e| NodeError::Permanent(e.to_string()))? {
            let handle = case
                .get("handle")
                .and_then(Value::as_str)
                .unwrap_or("default");
            return Ok(json!({"handle": handle}));
        }
    }
    Ok(json!({"handle": "default"}))
}

/// The output handles a completed step fires.
pub fn handles_of(node: &PlanNode, output: &Value) -> Vec<Option<String>> {
    match handler(node.node_type) {
        Handler::If => {
            let result = output
                .get("result")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            vec![Some(if result { "true" } else { "false" }.to_string())]
        }
        Handler::Switch => {
            let handle = output
                .get("handle")
                .and_then(Value::as_str)
                .unwrap_or("default");
            vec![Some(handle.to_string())]
        }
        Handler::Trigger | Handler::Delay | Handler::Merge | Handler::Rendered(_) => vec![None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integration_kind_runs_its_own_action() {
        for kind in NodeKind::ALL {
            let runs = match handler(*kind) {
                Handler::Rendered(Work::Integration(action)) => Some(action),
                _ => None,
            };
            assert_eq!(runs, kind.integration_action(), "{kind}");
        }
    }

    #[test]
    fn triggers_are_no_steps() {
        for kind in NodeKind::ALL {
            assert_eq!(
                handler(*kind) == Handler::Trigger,
                kind.is_trigger(),
                "{kind}"
            );
        }
    }
}
