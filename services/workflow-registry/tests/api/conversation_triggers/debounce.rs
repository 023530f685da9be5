//! At most once per conversation within the debounce window; a turn that does not
//! match does not use it up.

use super::*;

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
