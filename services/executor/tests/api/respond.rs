//! Run with: cargo test -p echoflow-executor --test api respond
//!
//! Synchronous webhooks, the executor's side: for a run whose trigger is a
//! webhook with `respond: when_finished`, one WebhookResponse on
//! `echoflow.responses`: the first `action.respond` step's answer, else the
//! last step's output when the run completes, else the error when it fails.
//! A webhook that answers immediately publishes none.

use std::sync::Arc;
use std::time::Duration;

use echoflow_bus::{Delivery, HandleError, MessageHandler, Subscription, topology};
use echoflow_contracts::WebhookResponse;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

struct Forward(mpsc::UnboundedSender<WebhookResponse>);

#[async_trait::async_trait]
impl MessageHandler for Forward {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let response = WebhookResponse::decode_bytes(&delivery.body)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        self.0
            .send(response)
            .map_err(|e| HandleError::Permanent(e.to_string()))
    }
}

/// The answers published on the app's bus from now on.
struct Answers {
    received: mpsc::UnboundedReceiver<WebhookResponse>,
    _subscription: Subscription,
    _stop: tokio_util::sync::DropGuard,
}

impl Answers {
    async fn of(app: &TestApp) -> Self {
        let (tx, received) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let subscription = app
            .bus
            .subscribe(
                topology::RESPONSES_EXCHANGE,
                "#",
                Arc::new(Forward(tx)),
                stop.clone(),
            )
            .await
            .unwrap();
        Self {
            received,
            _subscription: subscription,
            _stop: stop.drop_guard(),
        }
    }

    async fn next(&mut self) -> WebhookResponse {
        tokio::time::timeout(DEADLINE, self.received.recv())
            .await
            .expect("an answer within the deadline")
            .expect("the subscription runs")
    }

    /// None within a short while: after a run ended, its answer was already relayed.
    async fn none_within(&mut self, limit: Duration) -> Option<WebhookResponse> {
        tokio::time::timeout(limit, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

fn waiting_hook() -> Value {
    node(
        "hook",
        "trigger.webhook",
        json!({"respond": "when_finished"}),
    )
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

#[tokio::test]
async fn the_first_respond_step_answers_once_and_the_run_goes_on() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut answers = Answers::of(&app).await;
    let workflow = Workflow::new(definition(
        vec![
            waiting_hook(),
            node(
                "save",
                "action.set",
                json!({"values": {"id": "{{ trigger.data.body.order }}"}}),
            ),
            node(
                "reply",
                "action.respond",
                json!({
                    "status": 201,
                    "headers": {"X-Order": "{{ steps.save.output.id }}", "Content-Type": "application/json"},
                    "body": {"id": "{{ steps.save.output.id }}", "state": "created"}
                }),
            ),
            node("again", "action.respond", json!({"status": 202})),
            node("after", "action.set", json!({"values": {"done": true}})),
        ],
        vec![
            edge("hook", "save"),
            edge("save", "reply"),
            edge("reply", "again"),
            edge("again", "after"),
        ],
    ));
    let job = workflow.job(&user, json!({"order": "A-7"}));

    let execution = app.run(&job, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step(&execution, "after")["status"], "completed");
    let answer = answers.next().await;
    assert_eq!(answer.execution_id, job.execution_id);
    assert_eq!(answer.outcome, "responded");
    assert_eq!(answer.status, 201);
    assert_eq!(
        json_of(&answer.headers_json),
        json!({"X-Order": "A-7", "Content-Type": "application/json"})
    );
    assert_eq!(
        json_of(&answer.body_json),
        json!({"id": "A-7", "state": "created"})
    );
    assert_eq!(
        step(&execution, "reply")["output"],
        json!({"status": 201, "headers": {"X-Order": "A-7", "Content-Type": "application/json"}, "body": {"id": "A-7", "state": "created"}})
    );
    let second = answers.none_within(Duration::from_millis(500)).await;
    assert!(second.is_none(), "one answer per run: {second:?}");
}

#[tokio::test]
async fn a_run_without_respond_answers_200_with_its_last_steps_output() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut answers = Answers::of(&app).await;
    let workflow = Workflow::new(definition(
        vec![
            waiting_hook(),
            node("first", "action.set", json!({"values": {"n": 1}})),
            node(
                "last",
                "action.set",
                json!({"values": {"echo": "{{ trigger.data.body.text }}"}}),
            ),
        ],
        vec![edge("hook", "first"), edge("first", "last")],
    ));
    let job = workflow.job(&user, json!({"text": "hello"}));

    let execution = app.run(&job, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let answer = answers.next().await;
    assert_eq!(answer.execution_id, job.execution_id);
    assert_eq!(answer.outcome, "completed");
    assert_eq!(answer.status, 200);
    assert_eq!(json_of(&answer.body_json), json!({"echo": "hello"}));
}

#[tokio::test]
async fn a_failed_run_answers_with_its_error_and_a_bad_header_fails_the_step() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut answers = Answers::of(&app).await;
    // A header value rendered with a line break would split the answer: refused.
    let workflow = Workflow::new(definition(
        vec![
            waiting_hook(),
            node(
                "reply",
                "action.respond",
                json!({"headers": {"X-Echo": "{{ trigger.data.body.text }}"}, "body": "ok"}),
            ),
        ],
        vec![edge("hook", "reply")],
    ));
    let job = workflow.job(&user, json!({"text": "a\r\nSet-Cookie: session=stolen"}));

    let execution = app.run(&job, &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(step(&execution, "reply")["status"], "failed");
    let answer = answers.next().await;
    assert_eq!(answer.execution_id, job.execution_id);
    assert_eq!(answer.outcome, "failed");
    assert_eq!(answer.status, 500);
    assert!(
        answer.error.contains("control characters"),
        "{}",
        answer.error
    );
}

#[tokio::test]
async fn a_webhook_that_answers_immediately_publishes_no_answer() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let mut answers = Answers::of(&app).await;
    let workflow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node("set", "action.set", json!({"values": {"n": 1}})),
        ],
        vec![edge("hook", "set")],
    ));
    let job = workflow.job(&user, json!({}));

    let execution = app.run(&job, &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let answer = answers.none_within(Duration::from_millis(500)).await;
    assert!(answer.is_none(), "{answer:?}");
}
