//! Run with: cargo test -p echoflow-executor --test api chatbot_events
//!
//! The chatbot lifecycle events on `executor.chatbot-events`, published as
//! chat publishes them: `chatbot.deleted` cancels the chatbot's unfinished
//! executions (and a job of it that arrives later), nobody else's;
//! `chatbot.end_user_erased` erases the payloads of the executions the end
//! user's conversations started, nobody else's; a redelivery changes
//! nothing; an event without its chatbot is dead-lettered.

use echoflow_bus::{OutgoingMessage, REASON_HEADER, topology};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, EventType, ExecutionJob, TriggerEvent};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::helpers::{
    TestApp, TestUser, Workflow, definition, edge, node, spawn_app, spawn_distributed_app, step,
    webhook,
};

const DEADLINE: Duration = Duration::from_secs(10);

fn delayed() -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node("wait", "action.delay", json!({"duration_ms": 60_000})),
        ],
        vec![edge("hook", "wait")],
    ))
}

fn echoing() -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "echo",
                "action.set",
                json!({"values": {"said": "{{ trigger.data.body.text }}"}}),
            ),
        ],
        vec![edge("hook", "echo")],
    ))
}

async fn publish(app: &TestApp, event: &TriggerEvent) {
    let message = OutgoingMessage::new(
        event.id.clone(),
        &event.r#type,
        CLOUDEVENTS_CONTENT_TYPE,
        event.to_cloudevent_json(),
    );
    app.bus
        .publish(topology::EVENTS_EXCHANGE, message)
        .await
        .unwrap();
}

fn lifecycle(kind: EventType, chatbot: Uuid, owner: &TestUser, data: Value) -> TriggerEvent {
    TriggerEvent::builder("/chat", kind)
        .subject(chatbot)
        .chatbot(chatbot)
        .user(owner.id)
        .data(data)
        .build()
}

async fn execution(app: &TestApp, id: &str, user: &TestUser) -> Value {
    app.get_execution(id, user).await.json().await.unwrap()
}

async fn wait_status(app: &TestApp, job: &ExecutionJob, user: &TestUser, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let seen = execution(app, &job.execution_id, user).await;
        if seen["status"] == status {
            return seen;
        }
        assert!(started.elapsed() < DEADLINE, "never {status}: {seen}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn deleting_a_chatbot_cancels_its_unfinished_executions(app: TestApp) {
    let (owner, stranger) = (TestUser::new(), TestUser::new());
    let doomed = delayed();
    let other_bot = delayed();
    let waiting = doomed.job(&owner, json!({}));
    let elsewhere = other_bot.job(&owner, json!({}));
    let strangers = Workflow {
        chatbot_id: doomed.chatbot_id,
        ..delayed()
    };
    let theirs = strangers.job(&stranger, json!({}));
    for (job, user) in [
        (&waiting, &owner),
        (&elsewhere, &owner),
        (&theirs, &stranger),
    ] {
        app.publish_job(job).await;
        wait_status(&app, job, user, "running").await;
    }
    let finished = app
        .run(
            &Workflow {
                chatbot_id: doomed.chatbot_id,
                ..echoing()
            }
            .job(&owner, json!({"text": "kept"})),
            &owner,
        )
        .await;
    assert_eq!(finished["status"], "completed");

    let event = lifecycle(
        EventType::ChatbotDeleted,
        doomed.chatbot_id,
        &owner,
        json!({}),
    );
    publish(&app, &event).await;

    let cancelled = app.wait_final(&waiting.execution_id, &owner).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["error"], "cancelled: its chatbot was deleted");
    // Another chatbot's run, and a run of another owner, go on.
    for (job, user) in [(&elsewhere, &owner), (&theirs, &stranger)] {
        assert_eq!(
            execution(&app, &job.execution_id, user).await["status"],
            "running"
        );
    }
    // A finished run is kept as it was.
    let kept = execution(&app, finished["id"].as_str().unwrap(), &owner).await;
    assert_eq!(kept["status"], "completed", "{kept}");
    assert_eq!(step(&kept, "echo")["output"]["said"], "kept", "{kept}");
    // A job of the deleted chatbot that arrives later is not run.
    let late = doomed.job(&owner, json!({}));
    let late = app.run(&late, &owner).await;
    assert_eq!(late["status"], "cancelled", "{late}");
    assert_eq!(late["steps"], json!([]), "{late}");
    // A redelivery of the event changes nothing.
    publish(&app, &event).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        execution(&app, &elsewhere.execution_id, &owner).await["status"],
        "running"
    );
}

#[tokio::test]
async fn deleting_a_chatbot_cancels_its_unfinished_executions_on_sqlite() {
    deleting_a_chatbot_cancels_its_unfinished_executions(spawn_app().await).await;
}

#[tokio::test]
async fn deleting_a_chatbot_cancels_its_unfinished_executions_on_postgres_and_rabbitmq() {
    deleting_a_chatbot_cancels_its_unfinished_executions(spawn_distributed_app().await).await;
}

async fn erasing_an_end_user_erases_the_payloads_of_their_executions(app: TestApp) {
    let owner = TestUser::new();
    let wf = echoing();
    let by_email = wf.job(
        &owner,
        json!({"user_email": "Ann@Example.com", "text": "ann-1"}),
    );
    let by_session = wf.job(&owner, json!({"session_id": "s-ann", "text": "ann-2"}));
    let bobs = wf.job(
        &owner,
        json!({"user_email": "bob@example.com", "text": "bob-1"}),
    );
    for job in [&by_email, &by_session, &bobs] {
        assert_eq!(app.run(job, &owner).await["status"], "completed");
    }
    let waiting = Workflow {
        chatbot_id: wf.chatbot_id,
        ..delayed()
    }
    .job(&owner, json!({"user_email": "ann@example.com"}));
    app.publish_job(&waiting).await;
    wait_status(&app, &waiting, &owner, "running").await;

    let data =
        json!({"chatbot_id": wf.chatbot_id, "email": "ann@example.com", "session_ids": ["s-ann"]});
    publish(
        &app,
        &lifecycle(EventType::EndUserErased, wf.chatbot_id, &owner, data),
    )
    .await;

    for job in [&by_email, &by_session] {
        let started = Instant::now();
        let erased = loop {
            let seen = execution(&app, &job.execution_id, &owner).await;
            if seen["trigger"]["data"] == json!({"erased": true}) {
                break seen;
            }
            assert!(started.elapsed() < DEADLINE, "not erased: {seen}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert!(!erased.to_string().contains("ann-"), "{erased}");
        assert_eq!(erased["status"], "completed", "what ran is kept: {erased}");
        assert_eq!(erased["trigger"]["type"], "webhook.received");
        for step in erased["steps"].as_array().unwrap() {
            assert_eq!(step["input"], Value::Null, "{step}");
            assert_eq!(step["output"], Value::Null, "{step}");
            assert_eq!(step["status"], "completed", "{step}");
        }
    }
    let cancelled = app.wait_final(&waiting.execution_id, &owner).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["trigger"]["data"], json!({"erased": true}));
    let bob = execution(&app, &bobs.execution_id, &owner).await;
    assert_eq!(step(&bob, "echo")["output"]["said"], "bob-1", "{bob}");
    assert_eq!(
        bob["trigger"]["data"]["body"]["user_email"],
        "bob@example.com"
    );
}

#[tokio::test]
async fn erasing_an_end_user_erases_the_payloads_of_their_executions_on_sqlite() {
    erasing_an_end_user_erases_the_payloads_of_their_executions(spawn_app().await).await;
}

#[tokio::test]
async fn erasing_an_end_user_erases_the_payloads_of_their_executions_on_postgres_and_rabbitmq() {
    erasing_an_end_user_erases_the_payloads_of_their_executions(spawn_distributed_app().await)
        .await;
}

#[tokio::test]
async fn a_lifecycle_event_without_its_chatbot_is_dead_lettered_with_its_reason() {
    let app = spawn_app().await;
    let mut dead = app.dead_letters();
    let owner = TestUser::new();
    let event = TriggerEvent::builder("/chat", EventType::ChatbotDeleted)
        .user(owner.id)
        .build();
    publish(&app, &event).await;
    let delivery = dead.next().await;
    assert_eq!(delivery.message_id, event.id);
    assert_eq!(delivery.routing_key, topology::EXECUTOR_CHATBOT_EVENTS);
    let reason = delivery
        .headers
        .get(REASON_HEADER)
        .cloned()
        .unwrap_or_default();
    assert!(reason.contains("chatbotid"), "{reason}");
}
