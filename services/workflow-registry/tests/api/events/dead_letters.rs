//! A malformed event is dead-lettered with its reason.

use super::*;

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
