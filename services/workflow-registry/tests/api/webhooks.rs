//! Run with: cargo test -p echoflow-workflow-registry --test api
//!
//! Webhook calls and manual runs become ExecutionJobs: announced to the
//! executor and published on `echoflow.jobs`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use uuid::Uuid;

use echoflow_bus::topology::EXECUTOR_JOBS;
use echoflow_contracts::EventType;

use crate::helpers::{
    TestApp, assert_error, flow_with_trigger, hook_path, manual_flow, spawn_app, trigger_data,
    webhook_flow, workflow_body,
};

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn webhook_workflow(app: &TestApp, config: Value) -> Value {
    app.created(&workflow_body(
        "hook",
        app.chatbot().await,
        flow_with_trigger("trigger.webhook", config),
    ))
    .await
}

#[tokio::test]
async fn a_webhook_call_is_accepted_and_announced_to_the_executor() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let (status, body) = app
        .call_hook(
            &format!("{}?source=shop&n=1", hook_path(&created)),
            r#"{"order": {"id": 7, "total": 120.5}}"#,
            &[
                ("content-type", "application/json"),
                ("x-shop", "acme"),
                ("authorization", "Bearer must-not-leak"),
                ("cookie", "session=must-not-leak"),
            ],
        )
        .await;

    assert_eq!(status, 202, "{body}");
    let execution_id = body["execution_id"].as_str().unwrap().to_string();
    assert!(Uuid::parse_str(&execution_id).is_ok());

    let job = app.wait_for_announcement(&execution_id).await;
    assert_eq!(job.workflow_id, created["id"].as_str().unwrap());
    assert_eq!(job.workflow_version, 1);
    assert_eq!(job.owner_id, app.user_id.to_string());
    assert_eq!(job.chatbot_id, created["chatbot_id"].as_str().unwrap());
    let trigger = job.trigger.as_ref().unwrap();
    assert_eq!(trigger.r#type, EventType::WebhookReceived.as_str());
    let data = trigger_data(&job);
    assert_eq!(data["body"], json!({"order": {"id": 7, "total": 120.5}}));
    assert_eq!(data["query"], json!({"source": "shop", "n": "1"}));
    assert_eq!(data["headers"]["x-shop"], "acme");
    assert!(data["headers"].get("authorization").is_none(), "{data}");
    assert!(data["headers"].get("cookie").is_none(), "{data}");
    let plan: Value = serde_json::from_str(&job.plan_json).unwrap();
    assert_eq!(plan["trigger"]["node_type"], "trigger.webhook", "{plan}");
    assert_eq!(
        app.announced_jobs().await.len(),
        1,
        "one announcement per call"
    );

    // The same job reaches the bus.
    let published = jobs.next_job().await;
    assert_eq!(published.execution_id, execution_id);
    assert_eq!(published.workflow_id, job.workflow_id);
}

#[tokio::test]
async fn a_webhook_keeps_non_json_bodies_as_text_and_forms_as_objects() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let hook = hook_path(&created);

    let (status, text) = app
        .call_hook(&hook, "plain words", &[("content-type", "text/plain")])
        .await;
    assert_eq!(status, 202, "{text}");
    let job = app
        .wait_for_announcement(text["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(trigger_data(&job)["body"], "plain words");

    let (status, form) = app
        .call_hook(
            &hook,
            "name=Ada&city=London",
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(status, 202, "{form}");
    let job = app
        .wait_for_announcement(form["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(
        trigger_data(&job)["body"],
        json!({"name": "Ada", "city": "London"})
    );
}

#[tokio::test]
async fn a_webhook_runs_the_current_version() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let (status, _) = app.update_workflow(id, &json!({"name": "v2"})).await;
    assert_eq!(status, 200);

    let (status, body) = app.call_hook(&hook_path(&created), "{}", &[]).await;

    assert_eq!(status, 202, "{body}");
    let job = app
        .wait_for_announcement(body["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(job.workflow_version, 2);
}

#[tokio::test]
async fn an_unknown_hook_token_is_404() {
    let app = spawn_app().await;

    for token in ["doesnotexist".to_string(), "x".repeat(200)] {
        let (status, body) = app.call_hook(&format!("/hooks/{token}"), "{}", &[]).await;
        assert_eq!(status, 404, "{body}");
        assert_error(&body, "NOT_FOUND");
    }
    assert!(app.announced_jobs().await.is_empty());
}

#[tokio::test]
async fn an_inactive_workflows_hook_is_404_until_reactivated() {
    let app = spawn_app().await;
    let mut body = workflow_body("hook", app.chatbot().await, webhook_flow());
    body["is_active"] = json!(false);
    let created = app.created(&body).await;
    let hook = hook_path(&created);

    let (status, answer) = app.call_hook(&hook, "{}", &[]).await;
    assert_eq!(status, 404, "{answer}");
    assert_error(&answer, "NOT_FOUND");
    assert!(app.announced_jobs().await.is_empty());

    let (status, _) = app
        .update_workflow(created["id"].as_str().unwrap(), &json!({"is_active": true}))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = app.call_hook(&hook, "{}", &[]).await;
    assert_eq!(status, 202, "{answer}");
}

#[tokio::test]
async fn a_signed_webhook_accepts_a_valid_hmac_and_refuses_others() {
    let app = spawn_app().await;
    let secret = "shop-shared-secret";
    let created = webhook_workflow(&app, json!({"hmac_secret": secret})).await;
    let hook = hook_path(&created);
    let payload = r#"{"order": 1}"#;

    let (status, body) = app
        .call_hook(
            &hook,
            payload,
            &[("x-echoflow-signature", &sign(secret, payload))],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.wait_for_announcement(body["execution_id"].as_str().unwrap())
        .await;

    let refused = [
        vec![],
        vec![("x-echoflow-signature", sign("wrong-secret", payload))],
        vec![("x-echoflow-signature", sign(secret, r#"{"order": 2}"#))],
        vec![("x-echoflow-signature", "sha256=not-hex".to_string())],
    ];
    for headers in refused {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = app.call_hook(&hook, payload, &headers).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert_error(&body, "UNAUTHORIZED");
    }
    assert_eq!(
        app.announced_jobs().await.len(),
        1,
        "refused calls ran nothing"
    );
}

#[tokio::test]
async fn a_signed_webhook_reads_its_own_signature_header() {
    let app = spawn_app().await;
    let secret = "another-secret";
    let created = webhook_workflow(
        &app,
        json!({"hmac_secret": secret, "signature_header": "x-shop-signature"}),
    )
    .await;
    let hook = hook_path(&created);
    let payload = "ping";

    let (status, body) = app
        .call_hook(
            &hook,
            payload,
            &[("x-echoflow-signature", &sign(secret, payload))],
        )
        .await;
    assert_eq!(
        status, 401,
        "the default header is not the configured one: {body}"
    );

    let (status, body) = app
        .call_hook(
            &hook,
            payload,
            &[("x-shop-signature", &sign(secret, payload))],
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn execute_answers_202_and_the_job_reaches_the_bus() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("manual", app.chatbot().await, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let (status, body) = app
        .execute(id, &json!({"input": {"customer": "ada", "amount": 3}}))
        .await;

    assert_eq!(status, 202, "{body}");
    let execution_id = body["execution_id"].as_str().unwrap();
    let job = jobs.next_job().await;
    assert_eq!(job.execution_id, execution_id);
    assert_eq!(job.workflow_id, id);
    assert_eq!(job.workflow_version, 1);
    assert_eq!(job.owner_id, app.user_id.to_string());
    assert_eq!(job.chatbot_id, created["chatbot_id"].as_str().unwrap());
    assert_eq!(
        job.trigger.as_ref().unwrap().r#type,
        EventType::ManualTriggered.as_str()
    );
    assert_eq!(trigger_data(&job), json!({"customer": "ada", "amount": 3}));
    let announced = app.wait_for_announcement(execution_id).await;
    assert_eq!(announced.workflow_id, id);
}

#[tokio::test]
async fn execute_without_a_body_runs_with_null_input() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("manual", app.chatbot().await, manual_flow()))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/workflows/{}/execute",
            created["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 202);
    let job = jobs.next_job().await;
    assert_eq!(trigger_data(&job), Value::Null);
}

#[tokio::test]
async fn each_run_gets_its_own_execution_id() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("manual", app.chatbot().await, manual_flow()))
        .await;
    let id = created["id"].as_str().unwrap();
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let (_, first) = app.execute(id, &json!({})).await;
    let (_, second) = app.execute(id, &json!({})).await;

    assert_ne!(first["execution_id"], second["execution_id"]);
    let mut seen = vec![
        jobs.next_job().await.execution_id,
        jobs.next_job().await.execution_id,
    ];
    seen.sort();
    let mut expected = vec![
        first["execution_id"].as_str().unwrap().to_string(),
        second["execution_id"].as_str().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn execute_of_an_unknown_workflow_is_404() {
    let app = spawn_app().await;

    let (status, body) = app.execute(&Uuid::new_v4().to_string(), &json!({})).await;

    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
}

#[tokio::test]
async fn a_run_is_accepted_even_when_the_executor_is_down() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("manual", app.chatbot().await, manual_flow()))
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    app.executor.reset().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&app.executor)
        .await;

    let (status, body) = app
        .execute(created["id"].as_str().unwrap(), &json!({}))
        .await;

    assert_eq!(status, 202, "{body}");
    let job = jobs.next_job().await;
    assert_eq!(job.execution_id, body["execution_id"].as_str().unwrap());
}

#[tokio::test]
async fn a_hook_body_over_the_limit_is_413_with_the_error_body() {
    let app = spawn_app().await;
    let created = app
        .created(&workflow_body("hook", app.chatbot().await, webhook_flow()))
        .await;

    let (status, body) = app
        .call_hook(&hook_path(&created), &"x".repeat(2 * 1024 * 1024), &[])
        .await;

    assert_eq!(status, 413, "{body}");
    assert_error(&body, "PAYLOAD_TOO_LARGE");
    assert!(app.announced_jobs().await.is_empty());
}
