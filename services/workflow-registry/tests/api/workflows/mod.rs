//! Run with: cargo test -p echoflow-workflow-registry --test api
//!
//! Workflows: create, read, list, update (new versions), delete, ownership,
//! graph validation and the node-type catalogue.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    PUBLIC_URL, assert_error, edge, event_flow, manual_flow, node, read, spawn_app, webhook_flow,
    workflow_body,
};

mod crud;
mod node_types;
mod pagination;
mod validation;
