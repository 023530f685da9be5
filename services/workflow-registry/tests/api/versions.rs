//! Run with: cargo test -p echoflow-workflow-registry --test api
//!
//! Version history, one version, rollback, and copies.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

fn set_flow(value: i64) -> Value {
    json!({
        "nodes": [
            node("hook", "trigger.webhook", json!({})),
            node("set", "action.set", json!({"values": {"v": value}})),
        ],
        "edges": [edge("e1", "hook", "set")]
    })
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    read(
        app.client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post_json(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    read(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn versions_are_listed_newest_first_and_each_keeps_its_graph() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let wf = app.created(&workflow_body("v", chatbot, set_flow(1))).await;
    let id = wf["id"].as_str().unwrap();
    for value in [2, 3] {
        let (status, body) = app
            .update_workflow(id, &json!({"flow_definition": set_flow(value)}))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let (status, list) = get_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/versions"),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 3);
    let versions: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(list["items"][0]["is_current"], true);
    assert_eq!(list["items"][2]["is_current"], false);

    let (status, first) = get_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/versions/1"),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["version"], 1);
    assert_eq!(
        first["flow_definition"]["nodes"][1]["data"]["config"]["values"]["v"],
        1
    );
    let (status, missing) = get_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/versions/9"),
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    assert_error(&missing, "NOT_FOUND");
}

#[tokio::test]
async fn rollback_makes_a_new_version_with_the_old_graph_and_keeps_the_webhook() {
    let app = spawn_app().await;
    let wf = app
        .created(&workflow_body("r", app.chatbot().await, set_flow(1)))
        .await;
    let id = wf["id"].as_str().unwrap();
    let (status, _) = app
        .update_workflow(id, &json!({"flow_definition": set_flow(2)}))
        .await;
    assert_eq!(status, 200);

    let (status, rolled) = post_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/rollback"),
        &json!({"version": 1}),
    )
    .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["version"], 3);
    assert_eq!(
        rolled["flow_definition"]["nodes"][1]["data"]["config"]["values"]["v"],
        1
    );
    assert_eq!(
        rolled["webhook_url"], wf["webhook_url"],
        "the same token after a rollback"
    );
    let (_, current) = app.get_workflow(id).await;
    assert_eq!(current["version"], 3);

    let (status, body) = post_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/rollback"),
        &json!({"version": 7}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let stranger = app.token_for(Uuid::new_v4());
    let (status, _) = post_json(
        &app,
        &stranger,
        &format!("/api/v1/workflows/{id}/rollback"),
        &json!({"version": 1}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&app, &stranger, &format!("/api/v1/workflows/{id}/versions")).await;
    assert_eq!(
        status, 404,
        "another user's history does not exist for them"
    );
}

#[tokio::test]
async fn copy_creates_an_independent_workflow_for_another_chatbot() {
    let app = spawn_app().await;
    let wf = app
        .created(&workflow_body("original", app.chatbot().await, set_flow(5)))
        .await;
    let id = wf["id"].as_str().unwrap();
    let other_chatbot = app.chatbot().await;

    let (status, copy) = post_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/copy"),
        &json!({"chatbot_id": other_chatbot}),
    )
    .await;
    assert_eq!(status, 201, "{copy}");
    assert_ne!(copy["id"], wf["id"]);
    assert_eq!(copy["chatbot_id"], other_chatbot.to_string());
    assert_eq!(copy["name"], "original (copy)");
    assert_eq!(copy["version"], 1);
    assert_eq!(
        copy["flow_definition"]["nodes"][1]["data"]["config"]["values"]["v"],
        5
    );
    assert_ne!(
        copy["webhook_url"], wf["webhook_url"],
        "a copy has its own webhook token"
    );

    let (status, _) = app
        .call_hook(
            &hook_path(&copy),
            "{}",
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(status, 202, "the copy's webhook runs");
    let (status, original) = app.get_workflow(id).await;
    assert_eq!(status, 200);
    assert_eq!(original["version"], 1, "the original is untouched");

    let (status, named) = post_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/copy"),
        &json!({"chatbot_id": other_chatbot, "name": "  "}),
    )
    .await;
    assert_eq!(status, 422, "{named}");
    let stranger = app.token_for(Uuid::new_v4());
    let (status, _) = post_json(
        &app,
        &stranger,
        &format!("/api/v1/workflows/{id}/copy"),
        &json!({"chatbot_id": other_chatbot}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn diff_names_the_nodes_and_edges_added_removed_and_changed() {
    let app = spawn_app().await;
    let wf = app
        .created(&workflow_body("d", app.chatbot().await, set_flow(1)))
        .await;
    let id = wf["id"].as_str().unwrap();
    let next = json!({
        "nodes": [
            node("hook", "trigger.webhook", json!({})),
            node("set", "action.set", json!({"values": {"v": 2}})),
            node("more", "action.set", json!({"values": {"w": 1}})),
        ],
        "edges": [edge("e1", "hook", "set"), edge("e2", "set", "more")]
    });
    let (status, _) = app
        .update_workflow(id, &json!({"flow_definition": next}))
        .await;
    assert_eq!(status, 200);

    let (status, diff) = get_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/diff?from=1&to=2"),
    )
    .await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["nodes"]["added"], json!(["more"]));
    assert_eq!(diff["nodes"]["changed"], json!(["set"]));
    assert_eq!(diff["nodes"]["removed"], json!([]));
    assert_eq!(diff["edges"]["added"], json!(["e2"]));
    let (status, back) = get_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/diff?from=2&to=1"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(back["nodes"]["removed"], json!(["more"]));
    let (status, _) = get_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/diff?from=1&to=5"),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_list_searches_names_case_insensitively_and_literally() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    for name in [
        "Lead capture",
        "Parts lookup",
        "lead_scoring",
        "100% refunds",
    ] {
        app.created(&workflow_body(name, chatbot, set_flow(1)))
            .await;
    }
    let names = |list: &Value| -> Vec<String> {
        let mut v: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let (status, list) = app.list_workflows("?q=LEAD").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(names(&list), ["Lead capture", "lead_scoring"]);
    assert_eq!(list["total"], 2);
    let (_, list) = app.list_workflows("?q=d_s").await;
    assert_eq!(names(&list), ["lead_scoring"], "underscore is literal");
    let (_, list) = app.list_workflows("?q=0%25").await;
    assert_eq!(names(&list), ["100% refunds"], "percent is literal");
    let (_, list) = app.list_workflows("?q=%25").await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn rotating_the_webhook_token_retires_the_old_url_at_once() {
    let app = spawn_app().await;
    let wf = app
        .created(&workflow_body("rot", app.chatbot().await, set_flow(1)))
        .await;
    let id = wf["id"].as_str().unwrap();
    let old_hook = hook_path(&wf);

    let (status, rotated) = post_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{id}/webhook/rotate"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["version"], 1, "rotation is not a new version");
    let new_hook = hook_path(&rotated);
    assert_ne!(new_hook, old_hook);
    let json_body = [("content-type", "application/json")];
    let (status, _) = app.call_hook(&old_hook, "{}", &json_body).await;
    assert_eq!(status, 404, "the old token is dead");
    let (status, _) = app.call_hook(&new_hook, "{}", &json_body).await;
    assert_eq!(status, 202);
    let (_, current) = app.get_workflow(id).await;
    assert_eq!(current["webhook_url"], rotated["webhook_url"]);

    let manual = app
        .created(&workflow_body("m", app.chatbot().await, manual_flow()))
        .await;
    let manual_id = manual["id"].as_str().unwrap();
    let (status, body) = post_json(
        &app,
        &app.token,
        &format!("/api/v1/workflows/{manual_id}/webhook/rotate"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_error(&body, "CONFLICT");
    let stranger = app.token_for(Uuid::new_v4());
    let (status, _) = post_json(
        &app,
        &stranger,
        &format!("/api/v1/workflows/{id}/webhook/rotate"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404);
}
