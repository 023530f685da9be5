//! Run with: cargo test -p echoflow-executor --test api
//!
//! `GET /api/v1/executions[/{id}]` and `POST /internal/executions`.

use echoflow_contracts::{ExecutionJob, Message};
use serde_json::{Value, json};

use crate::helpers::*;

fn one_step() -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node("set", "action.set", json!({"values": {"a": 1}})),
        ],
        vec![edge("hook", "set")],
    ))
}

fn queued_at(job: &mut ExecutionJob, minute: u32) {
    job.queued_at = format!("2030-01-01T10:{minute:02}:00Z");
}

async fn announce_ok(app: &TestApp, job: &ExecutionJob) {
    let response = app
        .announce(job.encode_to_vec(), Some(INTERNAL_TOKEN))
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"execution_id": job.execution_id}));
}

async fn ids(app: &TestApp, query: &str, user: &TestUser) -> (Vec<String>, u64) {
    let response = app.list_executions(query, user).await;
    assert_eq!(response.status(), 200, "GET /api/v1/executions{query}");
    let body: Value = response.json().await.unwrap();
    let ids = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    (ids, body["total"].as_u64().unwrap())
}

#[tokio::test]
async fn an_announced_execution_is_visible_as_queued_at_once() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let workflow = one_step();
    let job = workflow.job(&user, json!({"hello": "world"}));

    announce_ok(&app, &job).await;

    let response = app.get_execution(&job.execution_id, &user).await;
    assert_eq!(response.status(), 200);
    let execution: Value = response.json().await.unwrap();
    assert_eq!(execution["status"], "queued");
    assert_eq!(execution["workflow_id"], workflow.id.to_string());
    assert_eq!(
        execution["trigger"]["data"]["body"],
        json!({"hello": "world"})
    );
    assert_eq!(execution["steps"], json!([]));
    assert_eq!(execution["started_at"], Value::Null);

    // Announcing again changes nothing; the job then runs it.
    announce_ok(&app, &job).await;
    let execution = app.run(&job, &user).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(step_ids(&execution), ["set"]);
}

#[tokio::test]
async fn the_list_is_newest_first_with_filters_and_paging() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let a = one_step();
    let b = one_step();
    let mut oldest = a.job(&user, json!({}));
    queued_at(&mut oldest, 1);
    let mut middle = a.job(&user, json!({}));
    queued_at(&mut middle, 2);
    let mut newest = b.job(&user, json!({}));
    queued_at(&mut newest, 3);
    for job in [&middle, &newest, &oldest] {
        announce_ok(&app, job).await;
    }
    let done = app.run(&middle, &user).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (o, m, n) = (
        oldest.execution_id.clone(),
        middle.execution_id.clone(),
        newest.execution_id.clone(),
    );

    let response = app.list_executions("", &user).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], 3);
    let first = &body["items"][0];
    assert_eq!(first["id"], n.as_str());
    assert_eq!(first["workflow_id"], b.id.to_string());
    assert_eq!(first["status"], "queued");
    assert_eq!(body["items"][1]["status"], "completed");

    assert_eq!(
        ids(&app, "", &user).await,
        (vec![n.clone(), m.clone(), o.clone()], 3)
    );
    assert_eq!(
        ids(&app, &format!("?workflow_id={}", a.id), &user).await,
        (vec![m.clone(), o.clone()], 2)
    );
    assert_eq!(
        ids(&app, "?status=completed", &user).await,
        (vec![m.clone()], 1)
    );
    assert_eq!(
        ids(&app, &format!("?status=queued&workflow_id={}", a.id), &user).await,
        (vec![o.clone()], 1)
    );
    assert_eq!(
        ids(&app, &format!("?chatbot_id={}", b.chatbot_id), &user).await,
        (vec![n.clone()], 1)
    );
    assert_eq!(
        ids(&app, "?limit=1&offset=1", &user).await,
        (vec![m.clone()], 3),
        "total counts every match, not the page"
    );
    assert_eq!(ids(&app, "?status=failed", &user).await, (vec![], 0));
}

#[tokio::test]
async fn bad_list_filters_are_rejected_with_422() {
    let app = spawn_app().await;
    let user = TestUser::new();
    for query in ["?status=bogus", "?limit=0", "?limit=201"] {
        let response = app.list_executions(query, &user).await;
        assert_eq!(response.status(), 422, "{query}");
    }
    let body: Value = app
        .list_executions("?status=bogus", &user)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body.to_string().contains("status"),
        "the error names the field: {body}"
    );
}

#[tokio::test]
async fn another_users_execution_is_invisible_to_them() {
    let app = spawn_app().await;
    let owner = TestUser::new();
    let stranger = TestUser::new();
    let job = one_step().job(&owner, json!({}));
    let execution = app.run(&job, &owner).await;
    assert_eq!(execution["status"], "completed", "{execution}");

    assert_eq!(
        app.get_execution(&job.execution_id, &stranger)
            .await
            .status(),
        404
    );
    assert_eq!(ids(&app, "", &stranger).await, (vec![], 0));
    assert_eq!(
        ids(&app, "", &owner).await,
        (vec![job.execution_id.clone()], 1)
    );
}

#[tokio::test]
async fn an_unknown_execution_is_404() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let response = app
        .get_execution(&uuid::Uuid::now_v7().to_string(), &user)
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_public_api_needs_a_valid_token() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let job = one_step().job(&user, json!({}));
    announce_ok(&app, &job).await;

    for path in [
        "/api/v1/executions".to_string(),
        format!("/api/v1/executions/{}", job.execution_id),
    ] {
        assert_eq!(app.get(&path, None).await.status(), 401, "{path}");
        assert_eq!(
            app.get(&path, Some("not-a-jwt")).await.status(),
            401,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_internal_endpoint_needs_the_service_token() {
    let app = spawn_app().await;
    let user = TestUser::new();
    let job = one_step().job(&user, json!({}));

    let missing = app.announce(job.encode_to_vec(), None).await;
    assert_eq!(missing.status(), 403);
    let wrong = app
        .announce(job.encode_to_vec(), Some("not-the-internal-token"))
        .await;
    assert_eq!(wrong.status(), 403);
    let user_token = app.announce(job.encode_to_vec(), Some(&user.token)).await;
    assert_eq!(user_token.status(), 403);
    assert_eq!(
        app.get_execution(&job.execution_id, &user).await.status(),
        404,
        "a refused announcement records nothing"
    );

    let garbage = app
        .announce(vec![0xff, 0xff, 0xff], Some(INTERNAL_TOKEN))
        .await;
    assert_eq!(garbage.status(), 422);
}

#[tokio::test]
async fn every_list_refuses_a_page_out_of_range_or_malformed_with_the_same_422() {
    use echoflow_service_kit::pagination::{Pagination, REFUSED_QUERIES};
    let app = spawn_app().await;
    let user = TestUser::new();
    for path in ["/api/v1/executions", "/api/v1/dead-letters"] {
        for (query, _) in REFUSED_QUERIES {
            let response = app.get(&format!("{path}?{query}"), Some(&user.token)).await;
            assert_eq!(response.status(), 422, "{path}?{query}");
            let body: Value = response.json().await.unwrap();
            let expected = Pagination::from_query(query).unwrap_err().body();
            assert_eq!(body, expected, "{path}?{query}");
        }
        let response = app
            .get(
                &format!("{path}?limit=200&offset=1000000"),
                Some(&user.token),
            )
            .await;
        assert_eq!(response.status(), 200, "{path}");
    }
}
