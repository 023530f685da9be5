//! Run with: cargo test -p echoflow-workflow-registry --test api
//!
//! CloudEvents on `echoflow.events` start the active `trigger.event`
//! workflows that listen for their type.

use std::collections::BTreeSet;
use std::time::Duration;

use echoflow_bus::REASON_HEADER;
use echoflow_bus::topology::{EXECUTOR_DEAD, EXECUTOR_JOBS, REGISTRY_TRIGGER_EVENTS};
use echoflow_contracts::ExecutionJob;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Deliveries, event_flow, spawn_app, trigger_data, workflow_body};

mod dead_letters;
mod matching;
mod over_http;

/// How long to listen for jobs that must not come, after the sentinel arrived.
pub(crate) const QUIET: Duration = Duration::from_millis(400);

fn cloud_event(id: &str, event_type: &str, chatbot_id: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "/shop",
        "type": event_type,
        "chatbotid": chatbot_id,
        "data": data
    })
}

/// Collects jobs until one whose trigger event id is `sentinel` arrives,
/// then listens a little longer; returns every job seen.
pub(crate) async fn jobs_until(jobs: &mut Deliveries, sentinel: &str) -> Vec<ExecutionJob> {
    jobs_until_all(jobs, &[sentinel]).await
}

/// Collects jobs until jobs for every one of `sentinels` (trigger event ids)
/// arrived, then listens a little longer; returns every job seen. Events are
/// handled concurrently, so jobs may come in any order.
pub(crate) async fn jobs_until_all(jobs: &mut Deliveries, sentinels: &[&str]) -> Vec<ExecutionJob> {
    let mut seen: Vec<ExecutionJob> = Vec::new();
    while !sentinels
        .iter()
        .all(|s| event_ids(&seen).iter().any(|id| id == s))
    {
        seen.push(jobs.next_job().await);
    }
    jobs.assert_none_within(QUIET).await;
    seen
}

pub(crate) fn event_ids(jobs: &[ExecutionJob]) -> Vec<String> {
    jobs.iter()
        .map(|j| j.trigger.as_ref().unwrap().id.clone())
        .collect()
}
