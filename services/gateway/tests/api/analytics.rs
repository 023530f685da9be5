//! Run with: cargo test -p echoflow-gateway --test api analytics
//!
//! `GET /api/v1/analytics/overview`: the range checks, and the composition of
//! the slices chat and the executor answer (fakes on loopback that check the
//! service token and the caller's owner id); `GET /api/v1/analytics/stream`:
//! the caller's execution events and counters, published on the gateway's bus.

use std::time::Duration;

use echoflow_bus::OutgoingMessage;
use echoflow_bus::topology::UPDATES_EXCHANGE;
use echoflow_contracts::{ExecutionUpdate, Message, PROTOBUF_CONTENT_TYPE, UpdateKind};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, assert_error, closed_loopback_url, read, spawn_app_configured};

const OVERVIEW: &str = "/api/v1/analytics/overview";
const INTERNAL_TOKEN: &str = "gateway-analytics-tests-internal-token-0123456789";

async fn app_with(chat: &str, executor: &str) -> TestApp {
    spawn_app_configured(
        &closed_loopback_url(),
        executor,
        vec![
            ("services.chat_url", chat.to_owned()),
            ("auth.internal_token", INTERNAL_TOKEN.to_owned()),
            ("live.counters_secs", "1".to_owned()),
        ],
    )
    .await
}

fn refused(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_error(body, code);
}

async fn user(app: &TestApp) -> (String, String) {
    let (_, tokens) = app.signed_in_user().await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let (_, me) = read(app.me(Some(&token)).await).await;
    (me["id"].as_str().unwrap().to_owned(), token)
}

async fn overview(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    read(
        app.get_with_token(&format!("{OVERVIEW}?{query}"), token)
            .await,
    )
    .await
}

#[tokio::test]
async fn a_range_outside_the_bounds_is_refused_with_the_field_at_fault() {
    let app = app_with(&closed_loopback_url(), &closed_loopback_url()).await;
    let (_, token) = user(&app).await;
    for (query, field) in [
        ("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        ("from=2025-01-01T00:00:00Z&to=2026-11-01T00:00:00Z", "to"),
        (
            "from=2026-09-01T00:00:00Z&to=2026-11-01T00:00:00Z&bucket=hour",
            "bucket",
        ),
    ] {
        let (status, body) = overview(&app, &token, query).await;
        refused(status, &body, 422, "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["path"], field, "{query}: {body}");
    }
    for query in ["bucket=week", "from=yesterday", "chatbot_id=not-a-uuid"] {
        let (status, body) = overview(&app, &token, query).await;
        refused(status, &body, 422, "VALIDATION_ERROR");
    }
    let (status, body) = read(app.get(OVERVIEW).await).await;
    refused(status, &body, 401, "UNAUTHORIZED");
    // A valid range reaches the services; both are down here.
    let (status, body) = overview(&app, &token, "bucket=day").await;
    refused(status, &body, 503, "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn the_overview_is_chats_and_the_executors_slices_for_the_caller_and_range() {
    let (chat, executor) = (MockServer::start().await, MockServer::start().await);
    let app = app_with(&chat.uri(), &executor.uri()).await;
    let (owner, token) = user(&app).await;
    let conversations = json!({"conversations": 4, "messages": 12, "end_user_messages": 5, "unique_end_users": 3,
        "sentiment": {"positive": 2, "neutral": 1, "negative": 2, "average_score": -0.08},
        "replies": {"faq": 3, "llm": 1, "fallback": 1, "faq_hit_rate": 0.6, "fallback_rate": 0.2},
        "top_intents": [{"name": "hours", "count": 3}],
        "buckets": [{"start": "2026-11-01T00:00:00Z", "conversations": 4, "messages": 12,
                     "sentiment": {"positive": 2, "neutral": 1, "negative": 2, "average_score": -0.08}}]});
    let workflow = Uuid::new_v4();
    let executions = json!({"by_status": {"queued": 1, "running": 1, "completed": 4, "failed": 3, "cancelled": 1},
        "duration_ms": {"count": 7, "p50": 400, "p95": 2000},
        "top_failing_workflows": [{"workflow_id": workflow, "failures": 3}],
        "top_failing_steps": [{"workflow_id": workflow, "node_id": "call", "failures": 3}],
        "dead_letters": {"total": 2, "not_replayed": 1},
        "buckets": [{"start": "2026-11-01T00:00:00Z", "completed": 4, "failed": 3, "cancelled": 1}]});
    for (server, route, body) in [
        (&chat, "/internal/analytics/conversations", &conversations),
        (&executor, "/internal/analytics/executions", &executions),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .and(header("x-echoflow-internal-token", INTERNAL_TOKEN))
            .and(query_param("owner_id", owner.as_str()))
            // Widened to whole hours before the services are asked.
            .and(query_param("from", "2026-11-01T00:00:00Z"))
            .and(query_param("to", "2026-11-02T00:00:00Z"))
            .and(query_param("bucket", "day"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(server)
            .await;
    }
    let (status, body) = overview(
        &app,
        &token,
        "from=2026-11-01T00:20:00Z&to=2026-11-01T23:10:00%2B00:00",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"chatbot_id": null, "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
               "bucket": "day", "conversations": conversations, "executions": executions})
    );
}

#[tokio::test]
async fn another_users_chatbot_is_not_found() {
    let (chat, executor) = (MockServer::start().await, MockServer::start().await);
    let app = app_with(&chat.uri(), &executor.uri()).await;
    let (_, token) = user(&app).await;
    Mock::given(path("/internal/analytics/conversations"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "NOT_FOUND", "message": "chatbot not found", "details": {}}}),
        ))
        .mount(&chat)
        .await;
    Mock::given(path("/internal/analytics/executions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&executor)
        .await;
    let (status, body) = overview(&app, &token, &format!("chatbot_id={}", Uuid::new_v4())).await;
    refused(status, &body, 404, "NOT_FOUND");
}

async fn publish(app: &TestApp, owner: &str, kind: UpdateKind, status: &str) -> Uuid {
    let execution = Uuid::new_v4();
    let update = ExecutionUpdate {
        execution_id: execution.to_string(),
        workflow_id: Uuid::new_v4().to_string(),
        owner_id: owner.to_owned(),
        chatbot_id: Uuid::new_v4().to_string(),
        kind: kind as i32,
        status: status.to_owned(),
        node_id: String::new(),
        error: String::new(),
        duration_ms: 12,
        at: chrono::Utc::now().to_rfc3339(),
    };
    let message = OutgoingMessage::new(
        Uuid::now_v7().to_string(),
        "execution.finished",
        PROTOBUF_CONTENT_TYPE,
        update.encode_to_vec(),
    );
    app.bus.publish(UPDATES_EXCHANGE, message).await.unwrap();
    execution
}

/// Reads the stream until `wanted` holds for a frame's text, within 10 s.
async fn frame_where(
    response: &mut reqwest::Response,
    buffer: &mut String,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if wanted(&frame) {
                return frame;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the frame within 10 s")
            .unwrap()
            .expect("the stream is open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

fn data_of(frame: &str) -> Value {
    let line = frame
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    serde_json::from_str(line).unwrap()
}

#[tokio::test]
async fn the_dashboard_stream_shows_the_callers_executions_and_counts_them() {
    let app = app_with(&closed_loopback_url(), &closed_loopback_url()).await;
    let (owner, token) = user(&app).await;
    let (other, _) = user(&app).await;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // EventSource's way: the token in the query.
    let mut response = client
        .get(app.url(&format!("/api/v1/analytics/stream?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();
    let first = frame_where(&mut response, &mut buffer, |f| {
        f.starts_with("event: counters")
    })
    .await;
    assert_eq!(data_of(&first)["failed"], 0);

    publish(&app, &other, UpdateKind::Finished, "failed").await;
    let mine = publish(&app, &owner, UpdateKind::Finished, "failed").await;
    let event = frame_where(&mut response, &mut buffer, |f| {
        f.contains("event: execution")
    })
    .await;
    let data = data_of(&event);
    assert_eq!(
        data["execution_id"],
        mine.to_string(),
        "only the caller's execution: {event}"
    );
    assert_eq!(
        (data["kind"].as_str(), data["status"].as_str()),
        (Some("finished"), Some("failed"))
    );
    let counters = frame_where(&mut response, &mut buffer, |f| {
        f.starts_with("event: counters")
    })
    .await;
    let counters = data_of(&counters);
    assert_eq!(
        (counters["failed"].as_u64(), counters["started"].as_u64()),
        (Some(1), Some(0)),
        "{counters}"
    );

    let (status, body) = read(app.get("/api/v1/analytics/stream").await).await;
    refused(status, &body, 401, "UNAUTHORIZED");
}
