//! The conditions of each conversation trigger: sentiment thresholds, message text,
//! intent name and confidence; configs checked on save.

use super::*;

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
