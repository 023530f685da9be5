//! What each node kind does: the dispatcher runs a node once, with its
//! timeout and output limit, by its kind. The kinds that only evaluate
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

use echoflow_domain::{PlanNode, expr};
use serde_json::{Map, Value, json};
use std::time::Duration;

use ai::AiNode;
use chat::ChatNode;
use context::{NodeError, StepScope};
use http::HttpNode;
use integrations::{IntegrationsNode, action_of};

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
        let timeout = node.policy.timeout_ms.map(Duration::from_millis);
        match node.node_type.as_str() {
            "condition.if" => {
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
                (input, outcome)
            }
            "condition.switch" => {
                let cases = node.config.get("cases").cloned().unwrap_or(json!([]));
                let outcome = switch(&cases, ctx);
                (json!({"cases": cases}), outcome)
            }
            "flow.merge" => (json!({}), Ok(Value::Object(incoming.clone()))),
            other => {
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
                let work = async {
                    match other {
                        "action.set" => Ok(input.get("values").cloned().unwrap_or(json!({}))),
                        "action.http_request" => self.http.call(&input, step.key).await,
                        "action.ai_text" => self.ai.generate(&input).await,
                        "action.send_message" => self.chat.send_message(&input, ctx, step).await,
                        "action.tag_conversation" => {
                            self.chat.tag_conversation(&input, ctx, step).await
                        }
                        integration if action_of(integration).is_some() => {
                            let action = action_of(integration).unwrap_or_default();
                            let execution_id = step.key.split(':').next().unwrap_or_default();
                            self.integrations
                                .call(action, &input, execution_id, step)
                                .await
                        }
                        unknown => Err(NodeError::Permanent(format!(
                            "node type '{unknown}' cannot run in this executor"
                        ))),
                    }
                };
                let outcome = match timeout {
                    Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                        Err(NodeError::Transient(format!(
                            "timed out after {} ms",
                            limit.as_millis()
                        )))
                    }),
                    None => work.await,
                };
                (input, outcome)
            }
        }
    }
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
    match node.node_type.as_str() {
        "condition.if" => {
            let result = output
                .get("result")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            vec![Some(if result { "true" } else { "false" }.to_string())]
        }
        "condition.switch" => {
            let handle = output
                .get("handle")
                .and_then(Value::as_str)
                .unwrap_or("default");
            vec![Some(handle.to_string())]
        }
        _ => vec![None],
    }
}
