//! A submitted workflow definition, checked against the graph limits, parsed and
//! compiled into the plan that is stored and run; faults as 422 INVALID_WORKFLOW.

use actix_web::web;
use echoflow_domain::{ExecutionPlan, FlowDefinition, GraphFault, NodeKind, TriggerSpec};
use echoflow_service_kit::{ApiError, ErrorCode};
use serde_json::{Value, json};

/// The most nodes and edges a workflow may have (`registry.max_nodes`,
/// `registry.max_edges`), as app data.
#[derive(Clone, Copy, Debug)]
pub struct GraphLimits {
    pub max_nodes: usize,
    pub max_edges: usize,
}

impl GraphLimits {
    /// Refuses a graph with more nodes or edges than allowed, before any of
    /// it is read.
    fn check(self, raw: &Value) -> Result<(), ApiError> {
        for (list, max) in [("nodes", self.max_nodes), ("edges", self.max_edges)] {
            let given = raw.get(list).and_then(Value::as_array).map_or(0, Vec::len);
            if given > max {
                let fault = GraphFault::new(
                    list,
                    format!("a workflow has at most {max} {list}; this one has {given}"),
                );
                return Err(invalid("flow_definition", vec![fault]));
            }
        }
        Ok(())
    }
}

/// A definition that parsed and compiled: safe to store and run.
pub struct CompiledDefinition {
    pub definition: FlowDefinition,
    pub plan: ExecutionPlan,
}

impl CompiledDefinition {
    /// [`CompiledDefinition::parse`] on the blocking pool: a large graph
    /// takes milliseconds of CPU, which must not stall the async workers that
    /// serve every other request (webhooks included).
    pub async fn compile(raw: Value, limits: GraphLimits) -> Result<Self, ApiError> {
        web::block(move || Self::parse(&raw, limits))
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("graph compile task: {e}")))?
    }

    pub fn parse(raw: &Value, limits: GraphLimits) -> Result<Self, ApiError> {
        limits.check(raw)?;
        let definition = echoflow_domain::parse_definition(raw)
            .map_err(|faults| invalid("flow_definition", faults))?;
        let unavailable: Vec<GraphFault> = definition
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                n.node_type
                    .parse::<NodeKind>()
                    .is_ok_and(|kind| !kind.is_available())
            })
            .map(|(i, n)| {
                GraphFault::new(
                    format!("nodes[{i}].type"),
                    format!("node type '{}' is not available yet", n.node_type),
                )
            })
            .collect();
        if !unavailable.is_empty() {
            return Err(invalid("flow_definition", unavailable));
        }
        let plan = echoflow_domain::compile(&definition)
            .map_err(|faults| invalid("flow_definition", faults))?;
        crate::cron::check(&definition, &plan)
            .map_err(|fault| invalid("flow_definition", vec![fault]))?;
        Ok(Self { definition, plan })
    }

    /// The trigger's kind and the event type it is indexed under.
    pub(super) fn trigger_index(&self) -> (NodeKind, Option<String>) {
        let trigger = &self.plan.trigger;
        let event_type =
            TriggerSpec::of(trigger).and_then(|spec| spec.event_type().map(str::to_owned));
        (trigger.node_type, event_type)
    }
}

/// 422 naming the first fault's path, with every fault in `details`.
fn invalid(prefix: &str, faults: Vec<GraphFault>) -> ApiError {
    let paths: Vec<Value> = faults
        .iter()
        .map(|f| {
            let path = if f.path.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{}", f.path)
            };
            json!({"path": path, "message": f.message})
        })
        .collect();
    let first = paths
        .first()
        .cloned()
        .unwrap_or(json!({"path": prefix, "message": "invalid"}));
    ApiError::new(
        ErrorCode::InvalidWorkflow,
        format!(
            "invalid workflow at {}: {}",
            first["path"].as_str().unwrap_or(prefix),
            first["message"].as_str().unwrap_or("invalid")
        ),
    )
    .with_details(json!({"path": first["path"], "faults": paths}))
}
