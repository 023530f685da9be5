//! Run with: cargo test -p echoflow-workflow-registry --test api methods
//!
//! A documented path with a method it does not declare is 405 with `Allow`
//! (from the service's own OpenAPI document); an unknown path is the JSON 404.

use crate::helpers::{assert_error, read, spawn_app};

#[tokio::test]
async fn a_documented_path_with_an_undeclared_method_is_405_with_allow() {
    let app = spawn_app().await;
    for (verb, route, allow) in [
        ("DELETE", "/api/v1/templates", "GET"),
        ("PATCH", "/api/v1/workflows", "GET, POST"),
        ("POST", "/api/v1/node-types", "GET"),
        ("GET", "/api/v1/events", "POST"),
        (
            "GET",
            "/api/v1/workflows/9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d/execute",
            "POST",
        ),
    ] {
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                app.url(route),
            )
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        let allowed = response.headers().get("allow").cloned();
        let (status, body) = read(response).await;
        assert_eq!(status, 405, "{verb} {route}: {body}");
        assert_error(&body, "METHOD_NOT_ALLOWED");
        assert_eq!(allowed.unwrap().to_str().unwrap(), allow, "{verb} {route}");
    }
}

#[tokio::test]
async fn an_unknown_path_is_the_json_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/no-such-thing"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
}
