//! Run with: cargo test -p echoflow-executor --test api ai
//!
//! `action.ai_text` against a fake OpenAI-compatible provider on loopback.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const COMPLETIONS: &str = "/v1/chat/completions";

fn summary_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"summary": {"type": "string"}, "urgent": {"type": "boolean"}},
        "required": ["summary", "urgent"]
    })
}

/// webhook -> ai (`config`) -> after (reads the AI step's output).
fn ai_flow(config: Value) -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node("ai", "action.ai_text", config),
            node(
                "after",
                "action.set",
                json!({"values": {"seen": "{{ steps.ai.output }}"}}),
            ),
        ],
        vec![edge("hook", "ai"), edge("ai", "after")],
    ))
}

/// An OpenAI chat-completions answer whose message is `content`.
fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": AI_MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }]
    }))
}

async fn spawn_with_provider(server: &MockServer) -> TestApp {
    spawn_app_with(Options {
        ai_base_url: format!("{}/v1", server.uri()),
        ..Options::default()
    })
    .await
}

async fn requests_to(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

#[tokio::test]
async fn the_rendered_prompt_goes_to_the_provider_and_its_answer_is_the_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(completion("  The parcel from Ada arrived broken.  "))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_with_provider(&server).await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({
        "prompt": "Summarise for {{ trigger.data.body.customer }}: {{ trigger.data.body.text }}",
        "system": "You are terse.",
        "temperature": 0.2
    }));

    let execution = app
        .run(
            &workflow.job(
                &user,
                json!({"customer": "Ada", "text": "my parcel came in pieces"}),
            ),
            &user,
        )
        .await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let ai = step(&execution, "ai");
    assert_eq!(
        ai["output"],
        json!({"text": "The parcel from Ada arrived broken."})
    );
    assert_eq!(
        step(&execution, "after")["output"]["seen"]["text"],
        "The parcel from Ada arrived broken."
    );
    let requests = requests_to(&server).await;
    let request = &requests[0];
    assert_eq!(
        request.headers.get("authorization").unwrap(),
        format!("Bearer {AI_API_KEY}").as_str()
    );
    let body: Value = request.body_json().unwrap();
    assert_eq!(body["model"], AI_MODEL);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Summarise for Ada: my parcel came in pieces"}
        ])
    );
    assert!(body.get("response_format").is_none(), "{body}");
    assert!(
        !ai["input"].to_string().contains(AI_API_KEY),
        "the key is never recorded: {}",
        ai["input"]
    );
}

#[tokio::test]
async fn a_node_may_name_its_own_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(completion("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_with_provider(&server).await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({"prompt": "Say ok", "model": "other-model", "max_tokens": 5}));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let body: Value = requests_to(&server).await[0].body_json().unwrap();
    assert_eq!(body["model"], "other-model");
    assert_eq!(body["max_tokens"], 5);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Say ok"}])
    );
}

#[tokio::test]
async fn with_a_schema_the_answer_is_asked_as_json_parsed_and_validated() {
    let server = MockServer::start().await;
    // Models wrap JSON in a fence now and then, even in JSON mode.
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(completion(
            "```json\n{\"summary\": \"parcel arrived broken\", \"urgent\": true}\n```",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_with_provider(&server).await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({
        "prompt": "Summarise: {{ trigger.data.body.text }}",
        "schema": summary_schema()
    }));

    let execution = app
        .run(
            &workflow.job(&user, json!({"text": "my parcel came in pieces"})),
            &user,
        )
        .await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let expected = json!({"summary": "parcel arrived broken", "urgent": true});
    assert_eq!(step(&execution, "ai")["output"], expected);
    assert_eq!(step(&execution, "after")["output"]["seen"], expected);
    let body: Value = requests_to(&server).await[0].body_json().unwrap();
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(system.contains("JSON"), "{system}");
    assert!(system.contains(&summary_schema().to_string()), "{system}");
    assert_eq!(
        body["messages"][1]["content"],
        "Summarise: my parcel came in pieces"
    );
}

#[tokio::test]
async fn an_answer_violating_the_schema_fails_the_step_with_the_violations() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(completion("{\"summary\": 42}"))
        .mount(&server)
        .await;
    let app = spawn_with_provider(&server).await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({
        "prompt": "Summarise",
        "schema": summary_schema(),
        "retry": {"max_attempts": 2, "backoff": "fixed", "delay_ms": 10}
    }));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    let ai = step(&execution, "ai");
    assert_eq!(ai["status"], "failed");
    assert!(ai["output"].is_null(), "{ai}");
    let error = ai["error"].as_str().unwrap();
    assert!(
        error.contains("the model's answer does not match the schema"),
        "{error}"
    );
    assert!(error.contains("at /summary: 42 is not of type"), "{error}");
    assert!(
        error.contains("\"urgent\" is a required property"),
        "{error}"
    );
    // A model may answer better next time: the bad answer was asked again.
    assert_eq!(ai["attempts"], 2, "{ai}");
    assert_eq!(requests_to(&server).await.len(), 2);
    assert!(
        execution["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["node_id"] != "after")
    );
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_asked_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(completion("Sure! The summary is: parcel broken."))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(completion(
            "{\"summary\": \"parcel broken\", \"urgent\": false}",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_with_provider(&server).await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({
        "prompt": "Summarise",
        "schema": summary_schema(),
        "retry": {"max_attempts": 2, "backoff": "fixed", "delay_ms": 10}
    }));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "completed", "{execution}");
    let ai = step(&execution, "ai");
    assert_eq!(ai["attempts"], 2, "{ai}");
    assert_eq!(
        ai["output"],
        json!({"summary": "parcel broken", "urgent": false})
    );
}

#[tokio::test]
async fn a_refused_key_fails_at_once_as_configuration() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_with_provider(&server).await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({
        "prompt": "Summarise",
        "retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}
    }));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    let ai = step(&execution, "ai");
    assert_eq!(ai["attempts"], 1, "{ai}");
    let error = ai["error"].as_str().unwrap();
    assert!(error.contains("401"), "{error}");
    assert!(error.contains("executor.ai_api_key"), "{error}");
}

#[tokio::test]
async fn without_a_provider_the_step_fails_with_a_configuration_error() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let workflow = ai_flow(json!({
        "prompt": "Summarise",
        "retry": {"max_attempts": 3, "backoff": "fixed", "delay_ms": 10}
    }));

    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    let ai = step(&execution, "ai");
    assert_eq!(ai["status"], "failed");
    assert_eq!(ai["attempts"], 1, "configuration is not retried: {ai}");
    let error = ai["error"].as_str().unwrap();
    assert!(error.contains("no AI provider is configured"), "{error}");
    assert!(error.contains("executor.ai_base_url"), "{error}");
}
