//! Run with: cargo test -p echoflow-workflow-registry --test api secrets
//!
//! A webhook's `hmac_secret` is sealed at rest (no table holds it in clear),
//! never returned (answers show `hmac_secret_set: true`), kept when the shown
//! graph is saved back, and still checks signed deliveries.

use echoflow_workflow_registry::webhook_signature::sign_sha256;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, flow_with_trigger, hook_path, spawn_app, spawn_app_on_sqlite,
    workflow_body,
};

const SECRET: &str = "clear-text-webhook-secret-4711";

fn trigger_config(workflow: &Value) -> &Value {
    &workflow["flow_definition"]["nodes"][0]["data"]["config"]
}

async fn call_signed(app: &TestApp, hook: &str, secret: &str) -> u16 {
    let body = r#"{"ping": true}"#;
    let header = sign_sha256(secret.as_bytes(), body.as_bytes());
    let (status, _) = app
        .call_hook(hook, body, &[("x-echoflow-signature", &header)])
        .await;
    status
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn the_secret_is_sealed_at_rest_and_never_returned_on(app: TestApp) {
    let flow = flow_with_trigger("trigger.webhook", json!({"hmac_secret": SECRET}));
    let created = app
        .created(&workflow_body("signed", app.chatbot().await, flow))
        .await;
    let id = created["id"].as_str().unwrap();
    let hook = hook_path(&created);

    for (what, shown) in [
        ("create", created.clone()),
        ("get", app.get_workflow(id).await.1),
        ("version", versions_get(&app, id, 1).await),
    ] {
        let config = trigger_config(&shown);
        assert_eq!(config["hmac_secret_set"], true, "{what}: {shown}");
        assert!(config.get("hmac_secret").is_none(), "{what}: {shown}");
        assert!(!shown.to_string().contains(SECRET), "{what}: {shown}");
    }

    assert_eq!(
        call_signed(&app, &hook, SECRET).await,
        202,
        "signed deliveries verify"
    );
    assert_eq!(call_signed(&app, &hook, "guess").await, 401);
    for job in app.announced_jobs().await {
        assert!(
            !job.plan_json.contains(SECRET),
            "the executor gets no clear secret"
        );
    }
    assert!(
        !contains(&app.stored_bytes().await, SECRET),
        "the secret is in clear in the database"
    );
}

async fn versions_get(app: &TestApp, id: &str, version: i32) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/workflows/{id}/versions/{version}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_secret_is_sealed_at_rest_and_never_returned() {
    the_secret_is_sealed_at_rest_and_never_returned_on(spawn_app().await).await;
}

#[tokio::test]
async fn the_secret_is_sealed_at_rest_and_never_returned_on_sqlite() {
    the_secret_is_sealed_at_rest_and_never_returned_on(spawn_app_on_sqlite().await).await;
}

#[tokio::test]
async fn saving_the_shown_graph_keeps_the_secret_and_a_new_one_replaces_it() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let flow = flow_with_trigger("trigger.webhook", json!({"hmac_secret": SECRET}));
    let created = app.created(&workflow_body("signed", chatbot, flow)).await;
    let id = created["id"].as_str().unwrap();
    let hook = hook_path(&created);

    // The graph as shown (hmac_secret_set: true), saved back: the secret stays.
    let (_, shown) = app.get_workflow(id).await;
    let (status, saved) = app
        .update_workflow(id, &json!({"flow_definition": shown["flow_definition"]}))
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(trigger_config(&saved)["hmac_secret_set"], true);
    assert_eq!(call_signed(&app, &hook, SECRET).await, 202);

    // Copies and rollbacks keep it too.
    let (status, copy) = post(
        &app,
        &format!("/api/v1/workflows/{id}/copy"),
        json!({"chatbot_id": chatbot}),
    )
    .await;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(call_signed(&app, &hook_path(&copy), SECRET).await, 202);

    // A new secret replaces it.
    let renewed = flow_with_trigger("trigger.webhook", json!({"hmac_secret": "the-new-secret"}));
    let (status, _) = app
        .update_workflow(id, &json!({"flow_definition": renewed}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(call_signed(&app, &hook, SECRET).await, 401);
    assert_eq!(call_signed(&app, &hook, "the-new-secret").await, 202);

    let (status, rolled) = post(
        &app,
        &format!("/api/v1/workflows/{id}/rollback"),
        json!({"version": 1}),
    )
    .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(
        call_signed(&app, &hook, SECRET).await,
        202,
        "version 1's secret is back"
    );

    // Without either field there is no secret.
    let (status, _) = app
        .update_workflow(
            id,
            &json!({"flow_definition": flow_with_trigger("trigger.webhook", json!({}))}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.call_hook(&hook, "{}", &[]).await;
    assert_eq!(status, 202, "unsigned deliveries are accepted again");

    // Keeping a secret that is not there is refused.
    let keep = flow_with_trigger("trigger.webhook", json!({"hmac_secret_set": true}));
    let (status, body) = app
        .update_workflow(id, &json!({"flow_definition": keep}))
        .await;
    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "INVALID_WORKFLOW");
    assert_eq!(
        error["details"]["path"],
        "flow_definition.nodes[0].data.config.hmac_secret_set"
    );
    assert!(!contains(&app.stored_bytes().await, SECRET));
    assert!(!contains(&app.stored_bytes().await, "the-new-secret"));
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    crate::helpers::read(response).await
}

#[tokio::test]
async fn a_secret_stored_in_clear_by_an_earlier_release_is_sealed_at_start() {
    use echoflow_workflow_registry::store::versions;
    use echoflow_workflow_registry::webhook_secrets::{WebhookSecrets, seal_stored};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    let app = spawn_app().await;
    let flow = flow_with_trigger("trigger.webhook", json!({"hmac_secret": SECRET}));
    let created = app
        .created(&workflow_body("old", app.chatbot().await, flow))
        .await;
    let hook = hook_path(&created);

    // The row as a release before sealing wrote it.
    let db = app.registry_db().await;
    let row = versions::Entity::find().one(&db).await.unwrap().unwrap();
    let (mut definition, mut plan) = (row.definition.clone(), row.plan.clone());
    definition["nodes"][0]["data"]["config"]["hmac_secret"] = json!(SECRET);
    plan["trigger"]["config"]["hmac_secret"] = json!(SECRET);
    let mut active: versions::ActiveModel = row.into();
    active.definition = Set(definition);
    active.plan = Set(plan);
    active.update(&db).await.unwrap();
    assert!(contains(&app.stored_bytes().await, SECRET));
    assert_eq!(
        call_signed(&app, &hook, SECRET).await,
        202,
        "a clear secret still verifies"
    );

    // What the registry runs at start, with the same (default) keys as the app.
    let settings = echoflow_workflow_registry::Settings::load(&[]).unwrap();
    let secrets = WebhookSecrets::from_settings(&settings.registry).unwrap();
    assert_eq!(seal_stored(&db, &secrets).await.unwrap(), 1);
    assert_eq!(seal_stored(&db, &secrets).await.unwrap(), 0, "sealed once");
    assert!(!contains(&app.stored_bytes().await, SECRET));
    assert_eq!(call_signed(&app, &hook, SECRET).await, 202);
    db.close().await.unwrap();
}
