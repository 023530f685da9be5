//! Run with: cargo test -p echoflow-workflow-registry --test api conversation_triggers
//!
//! The chat service's conversation events (`conversation.started`,
//! `message.received`, `sentiment.analyzed`, `intent.detected`) start the
//! conversation triggers of the event's chatbot whose conditions hold, at
//! most once per conversation within a debounce window.

use std::collections::BTreeMap;

use echoflow_bus::topology::EXECUTOR_JOBS;
use echoflow_contracts::ExecutionJob;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::events::{QUIET, event_ids, jobs_until};
use crate::helpers::{
    Deliveries, TestApp, assert_error, event_flow, flow_with_trigger, spawn_app, trigger_data,
    workflow_body,
};

mod conditions;
mod debounce;
mod scope;

/// A conversation event as the chat service publishes it.
fn chat_event(
    id: &str,
    event_type: &str,
    chatbot: Option<Uuid>,
    owner: Uuid,
    data: Value,
) -> Value {
    let mut event = json!({
        "specversion": "1.0",
        "id": id,
        "source": "/chat",
        "type": event_type,
        "time": "2026-11-23T10:00:00Z",
        "subject": data["session_id"],
        "userid": owner.to_string(),
        "datacontenttype": "application/json",
        "data": data
    });
    if let Some(chatbot) = chatbot {
        event["chatbotid"] = json!(chatbot.to_string());
    }
    event
}

fn started(chatbot: Uuid, session: &str, text: &str) -> Value {
    json!({"chatbot_id": chatbot, "session_id": session, "message_id": Uuid::new_v4(),
           "user_email": "ann@example.com", "text": text})
}

fn received(chatbot: Uuid, session: &str, text: &str) -> Value {
    json!({"chatbot_id": chatbot, "session_id": session, "message_id": Uuid::new_v4(),
           "user_email": null, "text": text,
           "sentiment": {"score": 0.0, "label": "neutral"}, "intent": null})
}

fn sentiment(chatbot: Uuid, session: &str, score: f64) -> Value {
    let label = if score <= -0.05 {
        "negative"
    } else if score >= 0.05 {
        "positive"
    } else {
        "neutral"
    };
    json!({"chatbot_id": chatbot, "session_id": session, "message_id": Uuid::new_v4(),
           "user_email": "ann@example.com", "text": "how do you feel", "score": score,
           "label": label})
}

fn intent(chatbot: Uuid, session: &str, name: &str, confidence: f64) -> Value {
    json!({"chatbot_id": chatbot, "session_id": session, "message_id": Uuid::new_v4(),
           "user_email": "ann@example.com", "text": "I want my money back", "intent": name,
           "confidence": confidence})
}

impl TestApp {
    /// Publishes a conversation event of `chatbot`, owned by the signed-in user.
    async fn chat(&self, id: &str, event_type: &str, chatbot: Uuid, data: Value) {
        self.publish_event(&chat_event(
            id,
            event_type,
            Some(chatbot),
            self.user_id,
            data,
        ))
        .await;
    }

    /// Creates an active workflow of `chatbot` started by `trigger_type`; returns its id.
    async fn conversation_workflow(
        &self,
        chatbot: Uuid,
        trigger_type: &str,
        config: Value,
    ) -> String {
        let created = self
            .created(&workflow_body(
                trigger_type,
                chatbot,
                flow_with_trigger(trigger_type, config),
            ))
            .await;
        created["id"].as_str().unwrap().to_string()
    }
}

/// Exactly `n` jobs, in any order: fails when fewer come in time or more follow.
async fn next_jobs(jobs: &mut Deliveries, n: usize) -> Vec<ExecutionJob> {
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        seen.push(jobs.next_job().await);
    }
    jobs.assert_none_within(QUIET).await;
    seen
}

/// (workflow id, trigger event id) of each job, sorted.
fn runs(jobs: &[ExecutionJob]) -> Vec<(String, String)> {
    let mut runs: Vec<(String, String)> = jobs
        .iter()
        .map(|j| {
            (
                j.workflow_id.clone(),
                j.trigger.as_ref().unwrap().id.clone(),
            )
        })
        .collect();
    runs.sort();
    runs
}

fn sorted(mut runs: Vec<(&str, &str)>) -> Vec<(String, String)> {
    runs.sort();
    runs.into_iter()
        .map(|(w, e)| (w.to_string(), e.to_string()))
        .collect()
}

/// How many jobs each conversation (session id of the trigger data) got.
fn jobs_per_session(jobs: &[ExecutionJob]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for job in jobs {
        let session = trigger_data(job)["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        *counts.entry(session).or_insert(0) += 1;
    }
    counts
}
