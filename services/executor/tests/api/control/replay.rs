//! Run with: cargo test -p echoflow-executor --test api control::replay
//!
//! A failed execution retried from its failed step (with a new input), and
//! dead letters: a failure is one, replayed to completion; a replay body
//! that does not parse or names nothing replays nothing.

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

use super::{call_flow, get, post, scripted, status};
use crate::helpers::*;

#[tokio::test]
async fn a_failed_execution_is_retried_from_its_failed_step_with_a_new_input() {
    retry_with_input_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_failed_execution_is_retried_from_its_failed_step_with_a_new_input_on_postgres_and_rabbitmq()
 {
    retry_with_input_on(spawn_distributed_app().await).await;
}

async fn retry_with_input_on(app: TestApp) {
    let user = TestUser::new();
    let (first_server, first) = scripted(vec![status(200)]).await;
    let second_server = MockServer::start().await;
    Mock::given(path("/bad"))
        .respond_with(status(400))
        .mount(&second_server)
        .await;
    let (good_server, good) = scripted(vec![status(200)]).await;
    let flow = Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "one",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/call", first_server.uri())}),
            ),
            node(
                "two",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/bad", second_server.uri())}),
            ),
        ],
        vec![edge("hook", "one"), edge("one", "two")],
    ));
    let job = flow.job(&user, json!({}));
    let failed = app.run(&job, &user).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let fixed_input = json!({"method": "POST", "url": format!("{}/call", good_server.uri())});
    let (code, body) = post(
        &app,
        &format!("/api/v1/executions/{}/retry", job.execution_id),
        &user,
        json!({"from": "failed_step", "input": fixed_input}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["retry_of"], job.execution_id.as_str());
    let retry_id = body["execution_id"].as_str().unwrap();
    let retried = app.wait_final(retry_id, &user).await;
    assert_eq!(retried["status"], "completed", "{retried}");
    assert_eq!(retried["retry_of"], job.execution_id.as_str());
    assert_eq!(step(&retried, "two")["input"], fixed_input);
    assert_eq!(
        first.times().len(),
        1,
        "the completed step was not run again"
    );
    assert_eq!(good.times().len(), 1);

    // From the start, everything runs again (and fails again at 'two').
    let (code, body) = post(
        &app,
        &format!("/api/v1/executions/{}/retry", job.execution_id),
        &user,
        json!({"from": "start"}),
    )
    .await;
    assert_eq!(code, 202);
    let again = app
        .wait_final(body["execution_id"].as_str().unwrap(), &user)
        .await;
    assert_eq!(again["status"], "failed");
    assert_eq!(first.times().len(), 2);
    // A completed execution cannot be retried.
    let (code, _) = post(
        &app,
        &format!("/api/v1/executions/{retry_id}/retry"),
        &user,
        json!({}),
    )
    .await;
    assert_eq!(code, 409);
}

#[tokio::test]
async fn a_failed_execution_is_a_dead_letter_that_replays_to_completion() {
    dead_letter_replay_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_failed_execution_is_a_dead_letter_that_replays_to_completion_on_postgres_and_rabbitmq() {
    dead_letter_replay_on(spawn_distributed_app().await).await;
}

async fn dead_letter_replay_on(app: TestApp) {
    let user = TestUser::new();
    let (server, script) = scripted(vec![status(503)]).await;
    let flow = call_flow(
        &server,
        json!({"retry": {"max_attempts": 2, "backoff": "fixed", "delay_ms": 10}}),
    );
    let job = flow.job(&user, json!({"order": 7}));
    let failed = app.run(&job, &user).await;
    assert_eq!(failed["status"], "failed");

    let list = get(&app, "/api/v1/dead-letters", &user).await;
    assert_eq!(list["total"], 1, "{list}");
    let letter = &list["items"][0];
    assert_eq!(letter["execution_id"], job.execution_id.as_str());
    assert_eq!(letter["failed_step"], "call");
    assert_eq!(letter["attempts"], 2);
    assert_eq!(letter["workflow_version"], 1);
    assert_eq!(letter["reason"], "execution_failed");
    assert!(letter["error"].as_str().unwrap().contains("503"));
    let id = letter["id"].as_str().unwrap();
    let one = get(&app, &format!("/api/v1/dead-letters/{id}"), &user).await;
    assert_eq!(one["input"]["url"], format!("{}/call", server.uri()));
    let stranger = TestUser::new();
    assert_eq!(
        app.get(&format!("/api/v1/dead-letters/{id}"), Some(&stranger.token))
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&app, "/api/v1/dead-letters", &stranger).await["total"],
        0
    );

    // The server recovers; replaying by workflow runs the failed step again.
    server.reset().await;
    Mock::given(path("/call"))
        .respond_with(status(200))
        .mount(&server)
        .await;
    let (code, body) = post(
        &app,
        "/api/v1/dead-letters/replay",
        &user,
        json!({"workflow_id": flow.id}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["replayed"].as_array().unwrap().len(), 1, "{body}");
    let replay_id = body["replayed"][0]["execution_id"].as_str().unwrap();
    let replayed = app.wait_final(replay_id, &user).await;
    assert_eq!(replayed["status"], "completed", "{replayed}");
    assert_eq!(replayed["retry_of"], job.execution_id.as_str());
    let letter = get(&app, &format!("/api/v1/dead-letters/{id}"), &user).await;
    assert_eq!(letter["replay_execution_id"], replay_id);
    assert!(letter["replayed_at"].is_string());
    // Replaying it again does nothing.
    let (_, body) = post(
        &app,
        "/api/v1/dead-letters/replay",
        &user,
        json!({"ids": [id]}),
    )
    .await;
    assert_eq!(body["replayed"], json!([]));
    assert_eq!(body["skipped"], json!([id]));
    assert_eq!(script.times().len(), 2, "two attempts before the replay");
}

/// A replay body that does not parse, or names nothing, replays nothing;
/// replaying every dead letter takes `{"all": true}`.
#[tokio::test]
async fn a_replay_body_that_does_not_parse_or_names_nothing_replays_nothing() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(path("/call"))
        .respond_with(status(503))
        .mount(&server)
        .await;
    let flow = call_flow(&server, json!({}));
    let job = flow.job(&user, json!({}));
    assert_eq!(app.run(&job, &user).await["status"], "failed");
    let list = get(&app, "/api/v1/dead-letters", &user).await;
    assert_eq!(list["total"], 1, "{list}");
    let id = list["items"][0]["id"].as_str().unwrap().to_string();

    let url = format!("{}/api/v1/dead-letters/replay", app.address);
    for (content_type, body, expected) in [
        (Some("application/json"), r#"{"ids": ["#, 400),
        (Some("application/xml"), r#"<replay all="true"/>"#, 400),
        (Some("application/json"), "", 400),
        (None, "", 400),
        (Some("application/json"), "{}", 422),
        (Some("application/json"), r#"{"all": false}"#, 422),
        (Some("application/json"), r#"{"every": true}"#, 422),
        (Some("application/json"), "[]", 422),
    ] {
        let mut request = app.client.post(&url).bearer_auth(&user.token);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.body(body).send().await.unwrap();
        let code = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(code, expected, "{content_type:?} {body:?}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{body:?}: {answer}");
        let letter = get(&app, &format!("/api/v1/dead-letters/{id}"), &user).await;
        assert!(
            letter["replayed_at"].is_null(),
            "{body:?} replayed {letter}"
        );
    }

    let (code, body) = post(
        &app,
        "/api/v1/dead-letters/replay",
        &user,
        json!({"all": true}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["replayed"][0]["dead_letter_id"], id.as_str(), "{body}");
}
