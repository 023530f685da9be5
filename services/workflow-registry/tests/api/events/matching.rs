//! Which workflows an event on the bus starts: those listening for its type, of its
//! chatbot and owner, active, whose filter holds; once per event; an updated workflow's
//! trigger moves with it.

use super::*;

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
