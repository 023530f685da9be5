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

#[tokio::test]
async fn an_event_starts_the_workflow_listening_for_its_type_once() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let paid = app
        .created(&workflow_body(
            "on paid",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let _shipped = app
        .created(&workflow_body(
            "on shipped",
            chatbot,
            event_flow("custom.order_shipped", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.publish_event(&cloud_event(
        "e1",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({"order": 7, "total": 120}),
    ))
    .await;
    let job = jobs.next_job().await;

    assert_eq!(job.workflow_id, paid["id"].as_str().unwrap());
    assert_eq!(job.workflow_version, 1);
    assert_eq!(job.chatbot_id, chatbot.to_string());
    assert_eq!(job.owner_id, app.user_id.to_string());
    let trigger = job.trigger.as_ref().unwrap();
    assert_eq!(trigger.r#type, "custom.order_paid");
    assert_eq!(trigger.source, "/shop");
    assert_eq!(trigger.id, "e1");
    assert_eq!(trigger_data(&job), json!({"order": 7, "total": 120}));
    jobs.assert_none_within(QUIET).await;
}

#[tokio::test]
async fn an_event_of_another_type_or_chatbot_starts_nothing() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let paid = app
        .created(&workflow_body(
            "on paid",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.publish_event(&cloud_event(
        "other-type",
        "custom.order_refunded",
        &chatbot.to_string(),
        json!({}),
    ))
    .await;
    app.publish_event(&cloud_event(
        "other-bot",
        "custom.order_paid",
        &Uuid::new_v4().to_string(),
        json!({}),
    ))
    .await;
    app.publish_event(&cloud_event(
        "sentinel",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({}),
    ))
    .await;

    let seen = jobs_until(&mut jobs, "sentinel").await;
    assert_eq!(event_ids(&seen), vec!["sentinel"]);
    assert_eq!(seen[0].workflow_id, paid["id"].as_str().unwrap());
}

#[tokio::test]
async fn an_inactive_or_deleted_event_workflow_starts_nothing() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let mut off = workflow_body("off", chatbot, event_flow("custom.order_paid", None));
    off["is_active"] = json!(false);
    app.created(&off).await;
    let deleted = app
        .created(&workflow_body(
            "gone",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let (status, _) = app.delete_workflow(deleted["id"].as_str().unwrap()).await;
    assert_eq!(status, 204);
    let on = app
        .created(&workflow_body(
            "on",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.publish_event(&cloud_event(
        "sentinel",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({}),
    ))
    .await;

    let seen = jobs_until(&mut jobs, "sentinel").await;
    let workflows: Vec<&str> = seen.iter().map(|j| j.workflow_id.as_str()).collect();
    assert_eq!(workflows, vec![on["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn one_event_starts_every_matching_workflow() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let first = app
        .created(&workflow_body(
            "one",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let second = app
        .created(&workflow_body(
            "two",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.publish_event(&cloud_event(
        "e1",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({}),
    ))
    .await;

    let a = jobs.next_job().await;
    let b = jobs.next_job().await;
    jobs.assert_none_within(QUIET).await;
    let got: BTreeSet<String> = [a.workflow_id, b.workflow_id].into();
    let want: BTreeSet<String> = [
        first["id"].as_str().unwrap().to_string(),
        second["id"].as_str().unwrap().to_string(),
    ]
    .into();
    assert_eq!(got, want);
    assert_ne!(a.execution_id, b.execution_id);
}

#[tokio::test]
async fn the_same_event_published_twice_starts_one_run() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    app.created(&workflow_body(
        "on paid",
        chatbot,
        event_flow("custom.order_paid", None),
    ))
    .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    let event = cloud_event(
        "dup-1",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({"n": 1}),
    );

    app.publish_event(&event).await;
    let first = jobs.next_job().await;
    assert_eq!(first.trigger.as_ref().unwrap().id, "dup-1");
    app.publish_event(&event).await;
    // Same id from another source is another event.
    let mut other_source = event.clone();
    other_source["source"] = json!("/other-shop");
    app.publish_event(&other_source).await;
    app.publish_event(&cloud_event(
        "sentinel",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({}),
    ))
    .await;

    // Both the other source's event and the sentinel start a run; the duplicate does not.
    let rest = jobs_until_all(&mut jobs, &["dup-1", "sentinel"]).await;
    let sources: Vec<(String, String)> = rest
        .iter()
        .map(|j| {
            let t = j.trigger.as_ref().unwrap();
            (t.source.clone(), t.id.clone())
        })
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(
        sources.contains(&("/other-shop".to_string(), "dup-1".to_string())),
        "{sources:?}"
    );
    assert!(
        sources.contains(&("/shop".to_string(), "sentinel".to_string())),
        "{sources:?}"
    );
}

#[tokio::test]
async fn a_filter_lets_only_matching_events_through() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let filtered = app
        .created(&workflow_body(
            "big orders",
            chatbot,
            event_flow("custom.order_paid", Some("event.data.total > 100")),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    app.publish_event(&cloud_event(
        "small",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({"total": 40}),
    ))
    .await;
    app.publish_event(&cloud_event(
        "edge",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({"total": 100}),
    ))
    .await;
    app.publish_event(&cloud_event(
        "big",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({"total": 250}),
    ))
    .await;

    let seen = jobs_until(&mut jobs, "big").await;
    assert_eq!(event_ids(&seen), vec!["big"]);
    assert_eq!(seen[0].workflow_id, filtered["id"].as_str().unwrap());
    assert_eq!(trigger_data(&seen[0]), json!({"total": 250}));
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_with_a_reason() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    app.created(&workflow_body(
        "on paid",
        chatbot,
        event_flow("custom.order_paid", None),
    ))
    .await;
    let mut dead = app.consume(EXECUTOR_DEAD);
    let mut jobs = app.consume(EXECUTOR_JOBS);

    // No specversion: not a CloudEvent.
    app.publish_event(&json!({"id": "bad-1", "source": "/shop", "type": "custom.order_paid", "chatbotid": chatbot.to_string()}))
        .await;

    let delivery = dead.next().await;
    assert_eq!(delivery.message_id, "bad-1");
    let reason = delivery.headers.get(REASON_HEADER).unwrap();
    assert!(reason.contains("specversion"), "{reason}");
    assert_eq!(
        delivery.headers.get("x-original-queue").map(String::as_str),
        Some(REGISTRY_TRIGGER_EVENTS)
    );
    let body: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body["id"], "bad-1");

    // A body that is not JSON at all goes the same way.
    app.bus
        .publish(
            echoflow_bus::topology::EVENTS_EXCHANGE,
            echoflow_bus::OutgoingMessage::new(
                "bad-2",
                "custom.order_paid",
                "text/plain",
                b"{{nope".to_vec(),
            ),
        )
        .await
        .unwrap();
    let delivery = dead.next().await;
    assert_eq!(delivery.message_id, "bad-2");
    assert!(delivery.headers.contains_key(REASON_HEADER));

    // Neither started anything; a good event still does.
    app.publish_event(&cloud_event(
        "sentinel",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({}),
    ))
    .await;
    let seen = jobs_until(&mut jobs, "sentinel").await;
    assert_eq!(event_ids(&seen), vec!["sentinel"]);
}

#[tokio::test]
async fn updating_an_event_workflow_moves_its_trigger() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let bot = chatbot.to_string();
    let created = app
        .created(&workflow_body(
            "on paid",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let id = created["id"].as_str().unwrap();
    let mut jobs = app.consume(EXECUTOR_JOBS);

    // A new event type: the old one no longer starts it, the new one does, at version 2.
    let (status, body) = app
        .update_workflow(
            id,
            &json!({"flow_definition": event_flow("custom.order_shipped", None)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.publish_event(&cloud_event(
        "old-type",
        "custom.order_paid",
        &bot,
        json!({}),
    ))
    .await;
    app.publish_event(&cloud_event(
        "new-type",
        "custom.order_shipped",
        &bot,
        json!({}),
    ))
    .await;
    let seen = jobs_until(&mut jobs, "new-type").await;
    assert_eq!(event_ids(&seen), vec!["new-type"]);
    assert_eq!(seen[0].workflow_version, 2);

    // Deactivated: nothing starts it (a sentinel workflow shows the event was handled).
    app.created(&workflow_body(
        "sentinel",
        chatbot,
        event_flow("custom.sentinel", None),
    ))
    .await;
    let (status, _) = app.update_workflow(id, &json!({"is_active": false})).await;
    assert_eq!(status, 200);
    app.publish_event(&cloud_event(
        "while-off",
        "custom.order_shipped",
        &bot,
        json!({}),
    ))
    .await;
    app.publish_event(&cloud_event("sentinel", "custom.sentinel", &bot, json!({})))
        .await;
    let seen = jobs_until(&mut jobs, "sentinel").await;
    assert_eq!(event_ids(&seen), vec!["sentinel"]);

    // Active again: the current version (4) runs.
    let (status, _) = app.update_workflow(id, &json!({"is_active": true})).await;
    assert_eq!(status, 200);
    app.publish_event(&cloud_event(
        "back-on",
        "custom.order_shipped",
        &bot,
        json!({}),
    ))
    .await;
    let seen = jobs_until(&mut jobs, "back-on").await;
    assert_eq!(event_ids(&seen), vec!["back-on"]);
    assert_eq!(seen[0].workflow_id, id);
    assert_eq!(seen[0].workflow_version, 4);
}

#[tokio::test]
async fn an_event_naming_another_user_starts_nothing() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let bot = chatbot.to_string();
    app.created(&workflow_body(
        "on paid",
        chatbot,
        event_flow("custom.order_paid", None),
    ))
    .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let mut foreign = cloud_event("foreign", "custom.order_paid", &bot, json!({}));
    foreign["userid"] = json!(Uuid::new_v4().to_string());
    app.publish_event(&foreign).await;
    let mut own = cloud_event("own", "custom.order_paid", &bot, json!({}));
    own["userid"] = json!(app.user_id.to_string());
    app.publish_event(&own).await;

    let seen = jobs_until(&mut jobs, "own").await;
    assert_eq!(event_ids(&seen), vec!["own"]);
}

#[tokio::test]
async fn an_event_sent_over_http_starts_the_senders_workflow_for_its_type() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let paid = app
        .created(&workflow_body(
            "on paid",
            chatbot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let mut event = cloud_event(
        "http-1",
        "custom.order_paid",
        &chatbot.to_string(),
        json!({"order": 8}),
    );
    event["subject"] = json!("order-8");
    app.send_event(&event).await;
    let job = jobs.next_job().await;

    assert_eq!(job.workflow_id, paid["id"].as_str().unwrap());
    assert_eq!(job.owner_id, app.user_id.to_string());
    let trigger = job.trigger.as_ref().unwrap();
    assert_eq!(trigger.id, "http-1");
    assert_eq!(trigger.source, "/shop");
    assert_eq!(trigger.subject, "order-8");
    assert_eq!(
        trigger.user_id,
        app.user_id.to_string(),
        "the sender's event"
    );
    assert_eq!(trigger_data(&job), json!({"order": 8}));
    // Sent again (a client retrying): accepted, and nothing runs again.
    app.send_event(&event).await;
    jobs.assert_none_within(QUIET).await;
}

#[tokio::test]
async fn an_event_sent_over_http_starts_only_the_senders_workflows() {
    let app = spawn_app().await;
    let own_bot = app.chatbot().await;
    let other = Uuid::new_v4();
    let other_token = app.token_for(other);
    let other_bot = app.chatbot_as(&other_token).await;
    let (status, theirs) = app
        .create_workflow_as(
            Some(&other_token),
            &workflow_body("theirs", other_bot, event_flow("custom.order_paid", None)),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let ours = app
        .created(&workflow_body(
            "ours",
            own_bot,
            event_flow("custom.order_paid", None),
        ))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    // No chatbotid: every workflow of the sender listening for the type,
    // none of another user's.
    let mut event = cloud_event("shared-id", "custom.order_paid", "", json!({}));
    event.as_object_mut().unwrap().remove("chatbotid");
    app.send_event(&event).await;
    let seen = jobs_until(&mut jobs, "shared-id").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].workflow_id, ours["id"].as_str().unwrap());

    // The other user sending the same source and id is their own event.
    let (status, body) = app
        .send_event_as(Some(&other_token), &event.to_string())
        .await;
    assert_eq!(status, 202, "{body}");
    let seen = jobs_until(&mut jobs, "shared-id").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].workflow_id, theirs["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_bad_event_sent_over_http_is_refused_and_starts_nothing() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let bot = chatbot.to_string();
    app.created(&workflow_body(
        "on paid",
        chatbot,
        event_flow("custom.order_paid", None),
    ))
    .await;
    let other_bot = app.chatbot_as(&app.token_for(Uuid::new_v4())).await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    let good = cloud_event("e", "custom.order_paid", &bot, json!({}));
    let with = |field: &str, value: Value| {
        let mut event = good.clone();
        event[field] = value;
        event.to_string()
    };
    let without = |field: &str| {
        let mut event = good.clone();
        event.as_object_mut().unwrap().remove(field);
        event.to_string()
    };
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 422, "$"),
        ("[1, 2]".into(), 422, "$"),
        (without("type"), 422, "type"),
        (without("id"), 422, "id"),
        (with("source", json!("")), 422, "source"),
        (with("specversion", json!("0.3")), 422, "specversion"),
        (with("type", json!("has space")), 422, "type"),
        (with("time", json!("yesterday")), 422, "time"),
        (with("chatbotid", json!("bot-1")), 422, "chatbotid"),
        (
            with("userid", json!(Uuid::new_v4().to_string())),
            422,
            "userid",
        ),
        (
            with("chatbotid", json!(other_bot.to_string())),
            404,
            "chatbotid",
        ),
        (
            with("chatbotid", json!(Uuid::new_v4().to_string())),
            404,
            "chatbotid",
        ),
    ];
    for (body, status, path) in &cases {
        let (got, answer) = app.send_event_as(Some(&app.token), body).await;
        assert_eq!(got, *status, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["path"], *path,
            "{body}: {answer}"
        );
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    let mut huge = good.clone();
    huge["data"] = json!("x".repeat(1_100_000));
    let (status, answer) = app.send_event_as(Some(&app.token), &huge.to_string()).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE");
    let (status, _) = app.send_event_as(None, &good.to_string()).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .send_event_as(Some("not-a-token"), &good.to_string())
        .await;
    assert_eq!(status, 401);
    jobs.assert_none_within(QUIET).await;
    // The sender's own id is accepted as userid.
    let mut own = good.clone();
    own["id"] = json!("own-id");
    own["userid"] = json!(app.user_id.to_string());
    app.send_event(&own).await;
    assert_eq!(
        event_ids(&jobs_until(&mut jobs, "own-id").await),
        ["own-id"]
    );
}
