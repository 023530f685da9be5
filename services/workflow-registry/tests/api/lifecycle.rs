//! Run with: cargo test -p echoflow-workflow-registry --test api lifecycle
//!
//! A chatbot's end, as the registry sees it through the real chat service on
//! the same bus: deleting the chatbot (`chatbot.deleted`) deletes its
//! workflows with their webhooks, schedules and trigger-index rows, and
//! nothing of another chatbot's; erasing an end user
//! (`chatbot.end_user_erased`) is audited without the email; neither event
//! can be sent over `POST /api/v1/events`.

use std::time::{Duration, Instant};

use echoflow_bus::topology::EXECUTOR_JOBS;
use echoflow_contracts::ExecutionJob;
use echoflow_test_support::events::{Deliveries, consume};
use echoflow_workflow_registry::store::{schedules, triggers};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    DEADLINE, TestApp, assert_error, event_flow, flow_with_trigger, hook_path, read, spawn_app,
    spawn_app_on_sqlite, webhook_flow, workflow_body,
};

async fn next_job(jobs: &mut Deliveries) -> ExecutionJob {
    ExecutionJob::decode_bytes(&jobs.next_within(DEADLINE).await.body).unwrap()
}

impl TestApp {
    async fn chat_delete(&self, path: &str) -> (u16, Value) {
        let request = self
            .client
            .delete(format!("{}{path}", self.chat_address))
            .bearer_auth(&self.token);
        read(request.send().await.unwrap()).await
    }

    /// Polls the caller's workflows of `chatbot` until there are `expected`.
    async fn wait_for_workflows(&self, chatbot: Uuid, expected: u64) {
        let started = Instant::now();
        loop {
            let (status, list) = self.list_workflows(&format!("?chatbot_id={chatbot}")).await;
            assert_eq!(status, 200, "{list}");
            if list["total"] == expected {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "chatbot {chatbot} still has {} workflows",
                list["total"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn audit(&self, query: &str) -> Value {
        let request = self
            .client
            .get(self.url(&format!("/api/v1/audit-log{query}")))
            .bearer_auth(&self.token);
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

async fn deleting_a_chatbot_deletes_its_workflows_webhooks_and_schedules(app: TestApp) {
    let mut jobs = consume(&app.bus, EXECUTOR_JOBS);
    let doomed = app.chatbot().await;
    let kept = app.chatbot().await;
    let hook = app
        .created(&workflow_body("hook", doomed, webhook_flow()))
        .await;
    let cron = flow_with_trigger("trigger.schedule", json!({"cron": "* * * * * *"}));
    let scheduled = app
        .created(&workflow_body("every second", doomed, cron))
        .await;
    let conversation = app
        .created(&workflow_body(
            "on message",
            doomed,
            flow_with_trigger("trigger.message_received", json!({})),
        ))
        .await;
    let other_hook = app
        .created(&workflow_body("other hook", kept, webhook_flow()))
        .await;
    // The schedule fires before the deletion.
    let scheduled_id = scheduled["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while next_job(&mut jobs).await.workflow_id != scheduled_id {
        assert!(started.elapsed() < DEADLINE, "the schedule never fired");
    }

    let (status, body) = app.chat_delete(&format!("/api/v1/chatbots/{doomed}")).await;
    assert_eq!(status, 204, "{body}");
    app.wait_for_workflows(doomed, 0).await;

    for wf in [&hook, &scheduled, &conversation] {
        let (status, body) = app.get_workflow(wf["id"].as_str().unwrap()).await;
        assert_eq!(status, 404, "{body}");
        assert_error(&body, "NOT_FOUND");
    }
    let (status, body) = app.call_hook(&hook_path(&hook), "{}", &[]).await;
    assert_eq!(status, 404, "the deleted chatbot's webhook: {body}");
    let (status, body) = app.call_hook(&hook_path(&other_hook), "{}", &[]).await;
    assert_eq!(status, 202, "another chatbot's webhook still works: {body}");
    let other_id = other_hook["id"].as_str().unwrap();
    let started = Instant::now();
    while next_job(&mut jobs).await.workflow_id != other_id {
        assert!(
            started.elapsed() < DEADLINE,
            "the other webhook's job never came"
        );
    }
    let db = app.registry_db().await;
    let ids: Vec<Uuid> = [&hook, &scheduled, &conversation]
        .iter()
        .map(|wf| Uuid::parse_str(wf["id"].as_str().unwrap()).unwrap())
        .collect();
    for (table, left) in [
        (
            "schedules",
            schedules::Entity::find()
                .filter(schedules::Column::WorkflowId.is_in(ids.clone()))
                .count(&db)
                .await
                .unwrap(),
        ),
        (
            "triggers",
            triggers::Entity::find()
                .filter(triggers::Column::ChatbotId.eq(doomed))
                .count(&db)
                .await
                .unwrap(),
        ),
    ] {
        assert_eq!(left, 0, "{table} of the deleted chatbot's workflows");
    }
    // Jobs that committed before the deletion may still be on their way;
    // after them, the schedule no longer fires.
    while jobs
        .try_next_within(Duration::from_millis(1500))
        .await
        .is_some()
    {}
    if let Some(late) = jobs.try_next_within(Duration::from_millis(2500)).await {
        let job = ExecutionJob::decode_bytes(&late.body).unwrap();
        panic!(
            "workflow {} still started after the deletion",
            job.workflow_id
        );
    }
    app.wait_for_workflows(kept, 1).await;

    let deleted = app.audit("?action=workflow.deleted").await;
    assert_eq!(deleted["total"], 3, "{deleted}");
    for entry in deleted["items"].as_array().unwrap() {
        assert_eq!(entry["details"]["reason"], "chatbot.deleted", "{entry}");
        assert_eq!(entry["details"]["chatbot_id"], doomed.to_string());
        assert_eq!(entry["actor_id"], app.user_id.to_string());
    }
    let chatbot = app.audit("?action=chatbot.deleted").await;
    assert_eq!(chatbot["total"], 1, "{chatbot}");
    assert_eq!(chatbot["items"][0]["workflow_id"], doomed.to_string());
    let mut listed: Vec<String> = chatbot["items"][0]["details"]["deleted_workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let mut expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn deleting_a_chatbot_deletes_its_workflows_webhooks_and_schedules_on_postgres() {
    deleting_a_chatbot_deletes_its_workflows_webhooks_and_schedules(spawn_app().await).await;
}

#[tokio::test]
async fn deleting_a_chatbot_deletes_its_workflows_webhooks_and_schedules_on_sqlite() {
    deleting_a_chatbot_deletes_its_workflows_webhooks_and_schedules(spawn_app_on_sqlite().await)
        .await;
}

#[tokio::test]
async fn an_erasure_is_audited_with_a_hash_of_the_email_not_the_email() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let (status, body) = app
        .chat_delete(&format!(
            "/api/v1/chatbots/{chatbot}/end-users/Ann%40Example.com"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    let entry = loop {
        let audit = app.audit("?action=chatbot.end_user_erased").await;
        if audit["total"] == 1 {
            break audit["items"][0].clone();
        }
        assert!(started.elapsed() < DEADLINE, "no audit entry: {audit}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entry["workflow_id"], chatbot.to_string());
    assert_eq!(entry["actor_id"], app.user_id.to_string());
    // sha256("ann@example.com")
    assert_eq!(
        entry["details"]["email_sha256"],
        "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476"
    );
    assert!(
        !entry.to_string().to_lowercase().contains("ann@"),
        "{entry}"
    );
}

#[tokio::test]
async fn a_lifecycle_event_cannot_be_sent_over_http() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    app.created(&workflow_body("hook", chatbot, webhook_flow()))
        .await;
    for event_type in ["chatbot.deleted", "chatbot.end_user_erased"] {
        let event = json!({"specversion": "1.0", "id": Uuid::new_v4().to_string(),
            "source": "/forged", "type": event_type, "chatbotid": chatbot.to_string(),
            "data": {"chatbot_id": chatbot, "email": "ann@example.com", "session_ids": []}});
        let (status, body) = app
            .send_event_as(Some(&app.token), &event.to_string())
            .await;
        assert_eq!(status, 422, "{body}");
        assert_error(&body, "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["path"], "type", "{body}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.wait_for_workflows(chatbot, 1).await;
}

#[tokio::test]
async fn a_lifecycle_event_type_is_refused_as_a_trigger() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    for (event_type, reason) in [
        (
            "chatbot.deleted",
            "deleting the chatbot deletes its workflows",
        ),
        ("chatbot.end_user_erased", "erased end user's email"),
    ] {
        let body = workflow_body("on lifecycle", chatbot, event_flow(event_type, None));
        let (status, answer) = app.create_workflow(&body).await;
        assert_eq!(status, 422, "{event_type}: {answer}");
        assert_error(&answer, "INVALID_WORKFLOW");
        assert_eq!(
            answer["error"]["details"]["path"], "flow_definition.nodes[0].data.config.event_type",
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{message}");
    }
    // An existing workflow cannot be changed to listen for one either.
    let created = app
        .created(&workflow_body(
            "custom",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let id = created["id"].as_str().unwrap();
    let changed = json!({"flow_definition": event_flow("chatbot.end_user_erased", None)});
    let (status, answer) = app.update_workflow(id, &changed).await;
    assert_eq!(status, 422, "{answer}");
    assert_error(&answer, "INVALID_WORKFLOW");
    app.wait_for_workflows(chatbot, 1).await;
}
