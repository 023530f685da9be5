//! Events sent over HTTP (`POST /api/v1/events`) start the sender's workflows only.

use super::*;

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
