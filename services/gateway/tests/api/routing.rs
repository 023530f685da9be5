//! Run with: cargo test -p echoflow-gateway --test api
//!
//! The gateway routes the rest of the API to the services that own it.

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{assert_error, closed_loopback_url, read, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;

    for route in ["/api/v1/unknown", "/nothing/here", "/api/v1/workflowsx"] {
        let (status, body) = read(app.get(route).await).await;
        assert_eq!(status, 404, "{route}: {body}");
        assert_error(&body, "NOT_FOUND");
    }
}

#[tokio::test]
async fn a_route_whose_service_is_down_is_503() {
    let app = spawn_app_with(&closed_loopback_url(), &closed_loopback_url()).await;

    for route in [
        "/api/v1/workflows",
        "/api/v1/node-types",
        "/api/v1/executions",
    ] {
        let (status, body) = read(app.get(route).await).await;
        assert_eq!(status, 503, "{route}: {body}");
        assert_error(&body, "SERVICE_UNAVAILABLE");
    }
    let (status, body) = read(app.post_json("/hooks/some-token", &json!({"a": 1})).await).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn a_proxied_request_reaches_the_upstream_whole_and_its_answer_comes_back() {
    let registry = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/workflows/abc/execute"))
        .and(query_param("dry_run", "true"))
        .and(query_param("note", "a b"))
        .and(header("authorization", "Bearer the-access-token"))
        .and(header("x-custom", "kept"))
        .and(body_json(json!({"input": {"order": 42}})))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("x-upstream", "registry")
                .set_body_json(json!({"execution_id": "0190-relayed"})),
        )
        .expect(1)
        .mount(&registry)
        .await;
    let app = spawn_app_with(&registry.uri(), &closed_loopback_url()).await;

    let response = app
        .client
        .post(app.url("/api/v1/workflows/abc/execute?dry_run=true&note=a%20b"))
        .bearer_auth("the-access-token")
        .header("x-custom", "kept")
        .json(&json!({"input": {"order": 42}}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-upstream"], "registry");
    let (_, body) = read(response).await;
    assert_eq!(body, json!({"execution_id": "0190-relayed"}));
    registry.verify().await;
}

#[tokio::test]
async fn each_prefix_goes_to_its_own_service_with_method_and_status_relayed() {
    let registry = MockServer::start().await;
    let executor = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/workflows/w1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&registry)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/workflows/w1"))
        .and(body_json(json!({"name": "renamed"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"version": 2})))
        .expect(1)
        .mount(&registry)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/tok123"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"execution_id": "e"})))
        .expect(1)
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/executions/x1"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "NOT_FOUND", "message": "execution not found", "details": {}}}),
        ))
        .expect(1)
        .mount(&executor)
        .await;
    let app = spawn_app_with(&registry.uri(), &executor.uri()).await;

    let deleted = app
        .client
        .delete(app.url("/api/v1/workflows/w1"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let (status, body) = read(
        app.client
            .put(app.url("/api/v1/workflows/w1"))
            .json(&json!({"name": "renamed"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (200, json!({"version": 2})));

    let (status, body) = read(
        app.client
            .post(app.url("/hooks/tok123"))
            .body("plain text body")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (202, json!({"execution_id": "e"})));

    // The upstream's own error answer is relayed as it is.
    let (status, body) = read(app.get("/api/v1/executions/x1").await).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["message"], "execution not found");

    registry.verify().await;
    executor.verify().await;
}

#[tokio::test]
async fn the_gateway_own_routes_are_not_proxied() {
    let registry = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&registry)
        .await;
    let app = spawn_app_with(&registry.uri(), &registry.uri()).await;

    let (status, _) = read(app.me(None).await).await;
    assert_eq!(status, 401);
    let (status, _) = read(app.get("/healthz").await).await;
    assert_eq!(status, 200);

    registry.verify().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_the_error_body() {
    let registry = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&registry)
        .await;
    let app = spawn_app_with(&registry.uri(), &closed_loopback_url()).await;
    let big = "x".repeat(2 * 1024 * 1024);

    let (status, body) = read(
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"email": "a@b.co", "password": "{big}"}}"#))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "PAYLOAD_TOO_LARGE");

    let (status, body) = read(
        app.client
            .post(app.url("/hooks/some-token"))
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "PAYLOAD_TOO_LARGE");
    registry.verify().await;
}
