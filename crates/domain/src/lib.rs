//! Workflow domain: the graph a user saves, its compiled plan, the node catalogue and the expression sandbox.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod catalogue;
pub mod expr;
pub mod graph;
mod path;

pub use graph::*;
