//! Run with: cargo test -p echoflow-gateway --test api paths
//!
//! What an outside request can name: no dot segments or encoded separators,
//! no internal header, no internal route, no made-up method, and no access
//! token in a query (except on the stream).

use serde_json::json;
use wiremock::matchers::{any, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, assert_error, closed_loopback_url, raw_request, read, spawn_app_configured,
    spawn_app_with,
};

/// The gateway in front of a chat service that answers anything with 200 and records what reached it.
async fn spawn_with_chat_answering_everything() -> (TestApp, MockServer) {
    let chat = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"reached": true})))
        .mount(&chat)
        .await;
    let app = spawn_app_configured(
        &closed_loopback_url(),
        &closed_loopback_url(),
        vec![("services.chat_url", chat.uri())],
    )
    .await;
    (app, chat)
}

#[tokio::test]
async fn dot_segments_and_encoded_separators_are_400_and_reach_no_service() {
    let (app, chat) = spawn_with_chat_answering_everything().await;

    for target in [
        "/api/v1/chatbots/../../../internal/chatbots/b1",
        "/api/v1/chatbots/%2e%2e/%2E%2E/%2e%2e/internal/chatbots/b1",
        "/api/v1/chatbots/.%2e/.%2e/.%2e/internal/chatbots/b1",
        "/api/v1/chatbots/./b1",
        "/api/v1/chatbots/..%2f..%2f..%2finternal%2fchatbots%2fb1",
        "/api/v1/chatbots/a%2Fb",
        "/api/v1/chatbots/a%5c..%5cb",
    ] {
        let (status, body) = raw_request(
            &app.address,
            &format!("GET {target} HTTP/1.1\r\nx-echoflow-internal-token: stolen"),
        )
        .await;
        assert_eq!(status, 400, "{target}: {body}");
        assert_error(&body, "BAD_REQUEST");
    }
    let reached = chat.received_requests().await.unwrap();
    assert!(reached.is_empty(), "reached the chat service: {reached:?}");
}

#[tokio::test]
async fn the_internal_token_header_of_an_outside_request_is_not_forwarded() {
    let (app, chat) = spawn_with_chat_answering_everything().await;

    let response = app
        .client
        .get(app.url("/api/v1/chatbots"))
        .header("x-echoflow-internal-token", "stolen")
        .header("X-Echoflow-Internal-Token", "stolen-twice")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let reached = chat.received_requests().await.unwrap();
    assert_eq!(reached.len(), 1);
    assert!(
        !reached[0].headers.contains_key("x-echoflow-internal-token"),
        "forwarded: {:?}",
        reached[0].headers
    );
    assert_eq!(reached[0].headers["x-custom"], "kept");
}

#[tokio::test]
async fn trace_and_unknown_methods_are_405_with_the_error_body() {
    let (app, chat) = spawn_with_chat_answering_everything().await;

    for (verb, route) in [
        ("TRACE", "/api/v1/chatbots"),
        ("FOO", "/api/v1/chatbots"),
        ("TRACE", "/api/v1/users/me"),
        ("FOO", "/nothing/here"),
        ("CONNECT", "/api/v1/chat"),
    ] {
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                app.url(route),
            )
            .send()
            .await
            .unwrap();
        let allow = response.headers().get("allow").cloned();
        let (status, body) = read(response).await;
        assert_eq!(status, 405, "{verb} {route}: {body}");
        assert_error(&body, "METHOD_NOT_ALLOWED");
        assert!(
            allow.is_some_and(|a| a.to_str().unwrap().contains("GET")),
            "{verb} {route}: Allow header"
        );
    }
    let reached = chat.received_requests().await.unwrap();
    assert!(reached.is_empty(), "reached the chat service: {reached:?}");
}

#[tokio::test]
async fn the_gateways_own_paths_with_an_undeclared_method_are_405_with_allow() {
    let (app, chat) = spawn_with_chat_answering_everything().await;
    let (_, tokens) = app.signed_in_user().await;
    let token = tokens["access_token"].as_str().unwrap();

    for (verb, route, allow) in [
        ("GET", "/api/v1/auth/register", "POST"),
        ("DELETE", "/api/v1/auth/token", "POST"),
        ("PUT", "/api/v1/auth/refresh", "POST"),
        ("POST", "/api/v1/users/me", "GET"),
        ("POST", "/api/v1/executions/stream", "GET"),
    ] {
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                app.url(route),
            )
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let allowed = response.headers().get("allow").cloned();
        let (status, body) = read(response).await;
        assert_eq!(status, 405, "{verb} {route}: {body}");
        assert_error(&body, "METHOD_NOT_ALLOWED");
        assert_eq!(allowed.unwrap().to_str().unwrap(), allow, "{verb} {route}");
    }
    let reached = chat.received_requests().await.unwrap();
    assert!(reached.is_empty(), "reached the chat service: {reached:?}");
}

#[tokio::test]
async fn an_access_token_in_the_query_of_another_route_is_dropped_before_logs_and_services() {
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workflows"))
        .and(query_param("limit", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&registry)
        .await;
    let app = spawn_app_with(&registry.uri(), &closed_loopback_url()).await;

    let (status, body) = read(
        app.get("/api/v1/workflows?limit=5&access_token=secret-token")
            .await,
    )
    .await;

    assert_eq!(status, 200, "{body}");
    let reached = registry.received_requests().await.unwrap();
    assert_eq!(
        reached[0].url.query(),
        Some("limit=5"),
        "{:?}",
        reached[0].url
    );
    assert!(
        !reached[0].headers.contains_key("authorization"),
        "the query token became a credential"
    );
}
