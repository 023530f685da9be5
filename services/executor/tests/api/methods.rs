//! Run with: cargo test -p echoflow-executor --test api methods
//!
//! A documented path with a method it does not declare is 405 with `Allow`,
//! also where an `{id}` route would otherwise take the path and fail to
//! parse it (`GET /dead-letters/replay`, which is POST only).

use crate::helpers::{TestUser, spawn_app};

#[tokio::test]
async fn a_literal_path_beside_an_id_route_is_405_for_an_undeclared_method() {
    let app = spawn_app().await;
    let user = TestUser::new();
    for (verb, route, allow) in [
        ("GET", "/api/v1/dead-letters/replay", "POST"),
        ("DELETE", "/api/v1/dead-letters/replay", "POST"),
        ("POST", "/api/v1/executions", "GET"),
        ("DELETE", "/api/v1/dead-letters/not-a-uuid", "GET"),
    ] {
        let response = app
            .client
            .request(
                reqwest::Method::from_bytes(verb.as_bytes()).unwrap(),
                format!("{}{route}", app.address),
            )
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let allowed = response.headers().get("allow").cloned();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 405, "{verb} {route}: {body}");
        assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED", "{body}");
        assert_eq!(allowed.unwrap().to_str().unwrap(), allow, "{verb} {route}");
    }
    // A documented method with a malformed id stays a 404.
    let response = app
        .client
        .get(format!("{}/api/v1/dead-letters/not-a-uuid", app.address))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
