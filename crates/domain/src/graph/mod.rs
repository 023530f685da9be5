//! The workflow graph as saved (a React Flow document) and its compilation into an execution plan.

mod build;
mod compile;
mod config;
mod parse;
mod plan;

pub use crate::fault::GraphFault;
pub use compile::compile;
pub use parse::parse_definition;
pub use plan::{Backoff, ExecutionPlan, OnError, PlanEdge, PlanNode, RetryPolicy, StepPolicy};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A workflow definition: `{"nodes": [...], "edges": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FlowDefinition {
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// Settings of the whole workflow.
    #[serde(default, skip_serializing_if = "WorkflowSettings::is_default")]
    pub settings: WorkflowSettings,
}

/// `settings` of a definition: how its runs are run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct WorkflowSettings {
    /// Runs of the workflow at once (1 to 1000); the excess waits queued, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// A workflow of the same owner and chatbot started, with the failed
    /// execution as its trigger data, when a run of this one fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_workflow_id: Option<uuid::Uuid>,
}

impl WorkflowSettings {
    pub const MAX_CONCURRENCY: u32 = 1000;

    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(default)]
    pub position: Position,
    #[serde(default)]
    pub data: NodeData,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Position {
    #[serde(default)]
    pub x: f64,
    #[serde(default)]
    pub y: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeData {
    #[serde(default)]
    pub label: String,
    #[serde(default = "empty_object")]
    pub config: Value,
    /// Any other React Flow fields, kept so a definition round-trips unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for NodeData {
    fn default() -> Self {
        Self {
            label: String::new(),
            config: empty_object(),
            extra: Map::new(),
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    #[serde(
        rename = "sourceHandle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_handle: Option<String>,
    /// Any other React Flow fields (`targetHandle`, `animated`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
