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

#[tokio::test]
async fn sentiment_below_fires_at_or_under_the_threshold_only() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let wf = app
        .conversation_workflow(
            chatbot,
            "trigger.sentiment",
            json!({"threshold": -0.5, "direction": "below"}),
        )
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let mild = sentiment(chatbot, "s-mild", -0.2);
    app.chat("mild", "sentiment.analyzed", chatbot, mild).await;
    let angry = sentiment(chatbot, "s-angry", -0.8);
    app.chat("angry", "sentiment.analyzed", chatbot, angry.clone())
        .await;

    let seen = jobs_until(&mut jobs, "angry").await;
    assert_eq!(event_ids(&seen), vec!["angry"]);
    let job = &seen[0];
    assert_eq!(job.workflow_id, wf);
    assert_eq!(job.chatbot_id, chatbot.to_string());
    assert_eq!(job.owner_id, app.user_id.to_string());
    let trigger = job.trigger.as_ref().unwrap();
    assert_eq!(trigger.r#type, "sentiment.analyzed");
    assert_eq!(trigger.source, "/chat");
    assert_eq!(trigger.subject, "s-angry");
    assert_eq!(trigger_data(job), angry);

    // The threshold itself is "below or at".
    app.chat(
        "at",
        "sentiment.analyzed",
        chatbot,
        sentiment(chatbot, "s-at", -0.5),
    )
    .await;
    let seen = jobs_until(&mut jobs, "at").await;
    assert_eq!(event_ids(&seen), vec!["at"]);
}

#[tokio::test]
async fn sentiment_above_fires_at_or_over_the_threshold_only() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    app.conversation_workflow(
        chatbot,
        "trigger.sentiment",
        json!({"threshold": 0.6, "direction": "above"}),
    )
    .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    for (id, score) in [("negative", -0.8), ("lukewarm", 0.3)] {
        app.chat(
            id,
            "sentiment.analyzed",
            chatbot,
            sentiment(chatbot, id, score),
        )
        .await;
    }
    app.chat(
        "happy",
        "sentiment.analyzed",
        chatbot,
        sentiment(chatbot, "happy", 0.9),
    )
    .await;

    let seen = jobs_until(&mut jobs, "happy").await;
    assert_eq!(event_ids(&seen), vec!["happy"]);
}

#[tokio::test]
async fn message_received_contains_matches_the_text_in_any_case() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let refunds = app
        .conversation_workflow(
            chatbot,
            "trigger.message_received",
            json!({"contains": "Refund"}),
        )
        .await;
    let every = app
        .conversation_workflow(chatbot, "trigger.message_received", json!({}))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.chat(
        "order",
        "message.received",
        chatbot,
        received(chatbot, "s1", "Where is my order?"),
    )
    .await;
    app.chat(
        "refund",
        "message.received",
        chatbot,
        received(chatbot, "s1", "I want a REFUND now"),
    )
    .await;

    let seen = next_jobs(&mut jobs, 3).await;
    assert_eq!(
        runs(&seen),
        sorted(vec![
            (&refunds, "refund"),
            (&every, "order"),
            (&every, "refund"),
        ])
    );
}

#[tokio::test]
async fn intent_detected_matches_the_name_in_any_case_and_the_minimum_confidence() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let wf = app
        .conversation_workflow(
            chatbot,
            "trigger.intent_detected",
            json!({"intent": "Refund", "min_confidence": 0.7}),
        )
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.chat(
        "other-intent",
        "intent.detected",
        chatbot,
        intent(chatbot, "s1", "greeting", 0.95),
    )
    .await;
    app.chat(
        "unsure",
        "intent.detected",
        chatbot,
        intent(chatbot, "s2", "refund", 0.5),
    )
    .await;
    app.chat(
        "sure",
        "intent.detected",
        chatbot,
        intent(chatbot, "s3", "REFUND", 0.9),
    )
    .await;

    let seen = jobs_until(&mut jobs, "sure").await;
    assert_eq!(event_ids(&seen), vec!["sure"]);
    assert_eq!(seen[0].workflow_id, wf);
    assert_eq!(trigger_data(&seen[0])["confidence"], 0.9);
}

#[tokio::test]
async fn conversation_started_starts_its_workflow_on_a_new_conversation_only() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let any = app
        .conversation_workflow(chatbot, "trigger.conversation_started", json!({}))
        .await;
    let pricing = app
        .conversation_workflow(
            chatbot,
            "trigger.conversation_started",
            json!({"contains": "PRICE"}),
        )
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    // Later messages of a conversation are not a start.
    app.chat(
        "later",
        "message.received",
        chatbot,
        received(chatbot, "s1", "what is the price?"),
    )
    .await;
    let first = started(chatbot, "s2", "Hi there");
    app.chat("hello", "conversation.started", chatbot, first.clone())
        .await;

    let seen = jobs_until(&mut jobs, "hello").await;
    assert_eq!(event_ids(&seen), vec!["hello"]);
    assert_eq!(seen[0].workflow_id, any);
    assert_eq!(trigger_data(&seen[0]), first);

    app.chat(
        "asks-price",
        "conversation.started",
        chatbot,
        started(chatbot, "s3", "What's the price of the Pro plan?"),
    )
    .await;
    let seen = next_jobs(&mut jobs, 2).await;
    assert_eq!(
        runs(&seen),
        sorted(vec![(&any, "asks-price"), (&pricing, "asks-price")])
    );
}

#[tokio::test]
async fn a_conversation_trigger_fires_only_for_its_own_chatbot() {
    let app = spawn_app().await;
    let chatbot_a = app.chatbot().await;
    let chatbot_b = app.chatbot().await;
    let config = json!({"threshold": -0.5, "direction": "below"});
    let of_a = app
        .conversation_workflow(chatbot_a, "trigger.sentiment", config.clone())
        .await;
    let of_b = app
        .conversation_workflow(chatbot_b, "trigger.sentiment", config)
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.chat(
        "from-b",
        "sentiment.analyzed",
        chatbot_b,
        sentiment(chatbot_b, "s-b", -0.9),
    )
    .await;
    let seen = jobs_until(&mut jobs, "from-b").await;
    assert_eq!(event_ids(&seen), vec!["from-b"]);
    assert_eq!(seen[0].workflow_id, of_b);
    assert_eq!(seen[0].chatbot_id, chatbot_b.to_string());

    app.chat(
        "from-a",
        "sentiment.analyzed",
        chatbot_a,
        sentiment(chatbot_a, "s-a", -0.9),
    )
    .await;
    let seen = jobs_until(&mut jobs, "from-a").await;
    assert_eq!(event_ids(&seen), vec!["from-a"]);
    assert_eq!(seen[0].workflow_id, of_a);

    // A chatbot without workflows starts nothing at all.
    let stranger = Uuid::new_v4();
    app.chat(
        "from-stranger",
        "sentiment.analyzed",
        stranger,
        sentiment(stranger, "s-x", -0.9),
    )
    .await;
    jobs.assert_none_within(QUIET).await;
}

#[tokio::test]
async fn an_event_without_a_chatbot_starts_no_conversation_trigger() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    app.conversation_workflow(
        chatbot,
        "trigger.sentiment",
        json!({"threshold": -0.5, "direction": "below"}),
    )
    .await;
    // A generic event trigger on the same type still sees such an event,
    // which shows it was handled.
    let generic = app
        .created(&workflow_body(
            "any sentiment",
            chatbot,
            event_flow("sentiment.analyzed", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.publish_event(&chat_event(
        "no-bot",
        "sentiment.analyzed",
        None,
        app.user_id,
        sentiment(chatbot, "s1", -0.9),
    ))
    .await;

    let seen = jobs_until(&mut jobs, "no-bot").await;
    assert_eq!(event_ids(&seen), vec!["no-bot"]);
    assert_eq!(seen[0].workflow_id, generic["id"].as_str().unwrap());
}

#[tokio::test]
async fn debounce_fires_once_per_conversation_within_the_window() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let debounced = app
        .conversation_workflow(
            chatbot,
            "trigger.sentiment",
            json!({"threshold": -0.5, "direction": "below", "debounce_seconds": 600}),
        )
        .await;
    let every_turn = app
        .conversation_workflow(
            chatbot,
            "trigger.sentiment",
            json!({"threshold": -0.5, "direction": "below"}),
        )
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    // Three negative turns of one conversation, one of another, all at once.
    for (id, session, score) in [
        ("turn-1", "s1", -0.6),
        ("turn-2", "s1", -0.9),
        ("turn-3", "s1", -0.7),
        ("other", "s2", -0.8),
    ] {
        app.chat(
            id,
            "sentiment.analyzed",
            chatbot,
            sentiment(chatbot, session, score),
        )
        .await;
    }

    let seen = next_jobs(&mut jobs, 6).await;
    let of = |wf: &str| -> Vec<ExecutionJob> {
        seen.iter()
            .filter(|j| j.workflow_id == wf)
            .cloned()
            .collect()
    };
    assert_eq!(
        jobs_per_session(&of(&debounced)),
        BTreeMap::from([("s1".to_string(), 1), ("s2".to_string(), 1)])
    );
    assert_eq!(
        jobs_per_session(&of(&every_turn)),
        BTreeMap::from([("s1".to_string(), 3), ("s2".to_string(), 1)])
    );

    // Later turns in the window stay quiet; a new conversation fires.
    app.chat(
        "turn-4",
        "sentiment.analyzed",
        chatbot,
        sentiment(chatbot, "s1", -0.9),
    )
    .await;
    app.chat(
        "new-session",
        "sentiment.analyzed",
        chatbot,
        sentiment(chatbot, "s3", -0.9),
    )
    .await;
    let seen = next_jobs(&mut jobs, 3).await;
    assert_eq!(
        runs(&seen),
        sorted(vec![
            (&debounced, "new-session"),
            (&every_turn, "new-session"),
            (&every_turn, "turn-4"),
        ])
    );
}

#[tokio::test]
async fn a_turn_that_does_not_match_does_not_use_up_the_debounce() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    app.conversation_workflow(
        chatbot,
        "trigger.sentiment",
        json!({"threshold": -0.5, "direction": "below", "debounce_seconds": 600}),
    )
    .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.chat(
        "calm",
        "sentiment.analyzed",
        chatbot,
        sentiment(chatbot, "s1", 0.2),
    )
    .await;
    app.chat(
        "angry",
        "sentiment.analyzed",
        chatbot,
        sentiment(chatbot, "s1", -0.9),
    )
    .await;

    let seen = jobs_until(&mut jobs, "angry").await;
    assert_eq!(event_ids(&seen), vec!["angry"]);
}

#[tokio::test]
async fn conversation_trigger_configs_are_checked_on_save() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    for (trigger_type, config, path) in [
        (
            "trigger.sentiment",
            json!({"threshold": -1.5, "direction": "below"}),
            "threshold",
        ),
        (
            "trigger.sentiment",
            json!({"threshold": -0.5, "direction": "sideways"}),
            "direction",
        ),
        (
            "trigger.sentiment",
            json!({"direction": "below"}),
            "threshold",
        ),
        (
            "trigger.intent_detected",
            json!({"intent": "refund", "min_confidence": 2}),
            "min_confidence",
        ),
        ("trigger.intent_detected", json!({}), "intent"),
        (
            "trigger.message_received",
            json!({"debounce_seconds": 0}),
            "debounce_seconds",
        ),
        (
            "trigger.conversation_started",
            json!({"debounce_seconds": 2_592_001}),
            "debounce_seconds",
        ),
    ] {
        let (status, body) = app
            .create_workflow(&workflow_body(
                "bad",
                chatbot,
                flow_with_trigger(trigger_type, config.clone()),
            ))
            .await;
        assert_eq!(status, 422, "{trigger_type} {config}: {body}");
        let error = assert_error(&body, "INVALID_WORKFLOW");
        assert_eq!(
            error["details"]["path"],
            format!("flow_definition.nodes[0].data.config.{path}"),
            "{trigger_type} {config}: {body}"
        );
    }
}
