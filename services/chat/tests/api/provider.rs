//! Run with: cargo test -p echoflow-chat --test api

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{EchoCompletion, HOURS_ANSWER, completion, spawn_app_with_provider};

const COMPLETIONS: &str = "/v1/chat/completions";

/// The request bodies the provider received, in order.
async fn provider_bodies(provider: &MockServer) -> Vec<Value> {
    provider
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == COMPLETIONS)
        .map(|r| r.body_json().unwrap())
        .collect()
}

#[tokio::test]
async fn the_provider_gets_the_memory_window_and_the_faq_context() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(EchoCompletion)
        .expect(4)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "sk-test-provider-key", 5_000).await;
    let bot = app
        .faq_bot_with(json!({"name": "Shop bot", "settings": {"memory_window": 2, "system_prompt": "You are the shop's assistant."}}))
        .await;

    let first = app.say(&bot, "Hello, I have some questions").await;
    assert_eq!(first["reply"], "LLM: Hello, I have some questions");
    assert_eq!(first["reply_source"], "llm");
    let session = first["session_id"].as_str().unwrap();
    app.say_in(&bot, session, "Do you sell gift cards?").await;
    app.say_in(&bot, session, "Can I pay by card?").await;
    let fourth = app
        .say_in(&bot, session, "When are you open on Saturday?")
        .await;

    assert_eq!(fourth["reply"], "LLM: When are you open on Saturday?");
    assert_eq!(fourth["reply_source"], "llm");
    let bodies = provider_bodies(&provider).await;
    assert_eq!(bodies.len(), 4);
    let last = &bodies[3];
    assert_eq!(last["model"], "test-model");
    let messages = last["messages"].as_array().unwrap();
    let turns: Vec<(&str, &str)> = messages[1..]
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        [
            ("user", "Do you sell gift cards?"),
            ("assistant", "LLM: Do you sell gift cards?"),
            ("user", "Can I pay by card?"),
            ("assistant", "LLM: Can I pay by card?"),
            ("user", "When are you open on Saturday?"),
        ],
        "{last}"
    );
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("You are the shop's assistant."),
        "{system}"
    );
    assert!(
        system.contains(&format!(
            "Q: What are your opening hours?\nA: {HOURS_ANSWER}"
        )),
        "no FAQ context in the system message: {system}"
    );
    // The first message of a conversation has no memory.
    let opening = bodies[0]["messages"].as_array().unwrap();
    assert_eq!(opening.len(), 2, "{}", bodies[0]);

    let requests = provider.received_requests().await.unwrap();
    for request in &requests {
        assert_eq!(
            request
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer sk-test-provider-key")
        );
    }
    let history = app.messages(session).await;
    assert_eq!(history["items"][7]["source"], "llm");
    assert_eq!(
        history["items"][7]["content"],
        "LLM: When are you open on Saturday?"
    );
}

#[tokio::test]
async fn without_a_provider_key_no_authorization_is_sent() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("From the model.")))
        .expect(1)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "", 5_000).await;
    let bot = app.faq_bot().await;

    let answer = app.say(&bot, "Hello").await;

    assert_eq!(answer["reply"], "From the model.");
    assert_eq!(answer["reply_source"], "llm");
    let requests = provider.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_failing_provider_degrades_to_the_builtin_responder() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
        .expect(2)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "sk-test", 5_000).await;
    let bot = app.faq_bot().await;

    let answer = app.say(&bot, "When are you open on Saturday?").await;
    assert_eq!(answer["reply"], HOURS_ANSWER);
    assert_eq!(answer["reply_source"], "faq");
    let off_topic = app.say(&bot, "What is the capital of France?").await;
    assert_eq!(off_topic["reply_source"], "fallback");

    let history = app.messages(answer["session_id"].as_str().unwrap()).await;
    assert_eq!(history["items"][1]["source"], "faq");
}

#[tokio::test]
async fn an_unusable_provider_answer_degrades_to_the_builtin_responder() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": []})))
        .expect(1)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "sk-test", 5_000).await;
    let bot = app.faq_bot().await;

    let answer = app.say(&bot, "When are you open on Saturday?").await;

    assert_eq!(answer["reply"], HOURS_ANSWER);
    assert_eq!(answer["reply_source"], "faq");
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_abandoned() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion("Too late."))
                .set_delay(Duration::from_secs(5)),
        )
        .expect(1)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "sk-test", 500).await;
    let bot = app.faq_bot().await;

    let started = Instant::now();
    let answer = app.say(&bot, "When are you open on Saturday?").await;

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the reply waited for the provider: {:?}",
        started.elapsed()
    );
    assert_eq!(answer["reply"], HOURS_ANSWER);
    assert_eq!(answer["reply_source"], "faq");
}

#[tokio::test]
async fn a_builtin_chatbot_never_calls_the_provider() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(EchoCompletion)
        .expect(0)
        .mount(&provider)
        .await;
    let app = spawn_app_with_provider(&provider, "sk-test", 5_000).await;
    let bot = app
        .faq_bot_with(json!({"name": "FAQ only", "settings": {"responder": "builtin"}}))
        .await;

    let answer = app.say(&bot, "When are you open on Saturday?").await;
    let session = answer["session_id"].as_str().unwrap();
    let off_topic = app
        .say_in(&bot, session, "What is the capital of France?")
        .await;

    assert_eq!(answer["reply"], HOURS_ANSWER);
    assert_eq!(answer["reply_source"], "faq");
    assert_eq!(off_topic["reply_source"], "fallback");
    provider.verify().await;
}
