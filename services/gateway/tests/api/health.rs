//! Run with: cargo test -p echoflow-gateway --test api
//!
//! Health, metrics and the API documentation.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{closed_loopback_url, read, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app().await;

    let (status, body) = read(app.get("/healthz").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");

    let (status, body) = read(app.get("/readyz").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["bus"]["status"], "ok");
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
}

#[tokio::test]
async fn api_docs_serve_swagger_ui() {
    let app = spawn_app().await;

    let redirect = app.get("/api/docs").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/api/docs/");

    let response = app.get("/api/docs/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
}

#[tokio::test]
async fn the_openapi_document_has_the_identity_paths_even_with_services_down() {
    let app = spawn_app_with(&closed_loopback_url(), &closed_loopback_url()).await;

    let (status, doc) = read(app.get("/api/openapi.json").await).await;

    assert_eq!(status, 200, "{doc}");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    for p in [
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/users/me",
    ] {
        assert!(doc["paths"].get(p).is_some(), "missing {p}");
    }
}

#[tokio::test]
async fn the_openapi_document_merges_the_services_documents() {
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/openapi.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "openapi": "3.1.0",
            "info": {"title": "registry", "version": "1"},
            "paths": {"/api/v1/workflows": {"get": {"responses": {"200": {"description": "ok"}}}}}
        })))
        .mount(&registry)
        .await;
    let app = spawn_app_with(&registry.uri(), &closed_loopback_url()).await;

    let (status, doc) = read(app.get("/api/openapi.json").await).await;

    assert_eq!(status, 200, "{doc}");
    assert!(doc["paths"].get("/api/v1/workflows").is_some(), "{doc}");
    assert!(doc["paths"].get("/api/v1/users/me").is_some(), "{doc}");
}
