//! Run with: cargo test -p echoflow-gateway --test api openapi_cache
//!
//! `GET /api/openapi.json` is anonymous, so it must not make the gateway ask
//! every service for its document on each call: the merged document is
//! built once and served from a cache, a partial one (a service was down)
//! only for a short while.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, closed_loopback_url, read, spawn_app_configured};

/// A service answering its own OpenAPI document, with one path of its own.
async fn service(server: MockServer, own_path: &str) -> MockServer {
    Mock::given(method("GET"))
        .and(path("/api/openapi.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "openapi": "3.1.0",
            "info": {"title": own_path, "version": "1"},
            "paths": {own_path: {"get": {"responses": {"200": {"description": "ok"}}}}}
        })))
        .mount(&server)
        .await;
    server
}

/// How many times `server` was asked for its document.
async fn fetches(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/api/openapi.json")
        .count()
}

async fn document(app: &TestApp) -> Value {
    let (status, doc) = read(app.get("/api/openapi.json").await).await;
    assert_eq!(status, 200, "{doc}");
    doc
}

#[tokio::test]
async fn many_requests_ask_each_service_once() {
    let registry = service(MockServer::start().await, "/api/v1/workflows").await;
    let executor = service(MockServer::start().await, "/api/v1/executions").await;
    let chat = service(MockServer::start().await, "/api/v1/chatbots").await;
    let integrations = service(MockServer::start().await, "/api/v1/integrations").await;
    let app = spawn_app_configured(
        &registry.uri(),
        &executor.uri(),
        vec![
            ("services.chat_url", chat.uri()),
            ("services.integrations_url", integrations.uri()),
        ],
    )
    .await;

    // Concurrent callers first, then one after the other.
    let concurrent: Vec<_> = (0..10)
        .map(|_| {
            let request = app.client.get(app.url("/api/openapi.json"));
            tokio::spawn(async move { read(request.send().await.unwrap()).await })
        })
        .collect();
    let mut documents = Vec::new();
    for call in concurrent {
        let (status, doc) = call.await.unwrap();
        assert_eq!(status, 200, "{doc}");
        documents.push(doc);
    }
    for _ in 0..10 {
        documents.push(document(&app).await);
    }

    for doc in &documents {
        assert_eq!(doc, &documents[0], "every caller gets the same document");
    }
    for p in [
        "/api/v1/workflows",
        "/api/v1/executions",
        "/api/v1/chatbots",
        "/api/v1/integrations",
        "/api/v1/users/me",
    ] {
        assert!(documents[0]["paths"].get(p).is_some(), "missing {p}");
    }
    for (name, server) in [
        ("registry", &registry),
        ("executor", &executor),
        ("chat", &chat),
        ("integrations", &integrations),
    ] {
        assert_eq!(fetches(server).await, 1, "{name} asked more than once");
    }
}

#[tokio::test]
async fn a_service_down_at_start_is_asked_again_after_the_short_lifetime() {
    let registry = service(MockServer::start().await, "/api/v1/workflows").await;
    let executor = service(MockServer::start().await, "/api/v1/executions").await;
    let integrations = service(MockServer::start().await, "/api/v1/integrations").await;
    let chat_url = closed_loopback_url();
    let app = spawn_app_configured(
        &registry.uri(),
        &executor.uri(),
        vec![
            ("services.chat_url", chat_url.clone()),
            ("services.integrations_url", integrations.uri()),
            ("openapi.partial_cache_secs", "1".into()),
        ],
    )
    .await;

    let first = document(&app).await;
    assert!(first["paths"].get("/api/v1/chatbots").is_none(), "{first}");
    assert!(first["paths"].get("/api/v1/workflows").is_some(), "{first}");
    for _ in 0..5 {
        assert_eq!(document(&app).await, first);
    }
    assert_eq!(
        fetches(&registry).await,
        1,
        "the partial document is cached"
    );

    // Chat comes up where the gateway expects it.
    let listener = TcpListener::bind(chat_url.trim_start_matches("http://")).unwrap();
    let chat = service(
        MockServer::builder().listener(listener).start().await,
        "/api/v1/chatbots",
    )
    .await;
    let started = Instant::now();
    let complete = loop {
        let doc = document(&app).await;
        if doc["paths"].get("/api/v1/chatbots").is_some() {
            break doc;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "chat's paths never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(complete["paths"].get("/api/v1/workflows").is_some());
    assert_eq!(
        fetches(&registry).await,
        2,
        "one rebuild after the lifetime"
    );
    assert_eq!(fetches(&chat).await, 1);
    // Complete now: kept for the long lifetime.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(document(&app).await, complete);
    assert_eq!(fetches(&registry).await, 2);
}
