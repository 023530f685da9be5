//! Workflow domain: the node kinds and the node catalogue, the graph a user
//! saves and its compiled plan, trigger specs, and the expression sandbox.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod catalogue;
pub mod expr;
mod fault;
pub mod graph;
mod integration;
mod kind;
mod path;
pub mod respond;
mod trigger;

pub use graph::*;
pub use integration::{IntegrationAction, UnknownAction};
pub use kind::{Category, NodeKind, UnknownNodeKind};
pub use trigger::{
    ConversationCondition, ConversationTrigger, Direction, EventTrigger, ScheduleTrigger,
    TriggerSpec, WebhookTrigger,
};
