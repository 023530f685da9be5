//! Which conversations and chatbots a trigger fires for: new conversations only for
//! `conversation.started`, only its own chatbot's events, none without a chatbot.

use super::*;

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
