//! Run with: cargo test -p echoflow-executor --test api
//!
//! The network policy of `action.http_request`, seen from an execution.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

fn call(url: &str) -> Workflow {
    Workflow::new(definition(
        vec![
            webhook("hook"),
            node(
                "call",
                "action.http_request",
                json!({"method": "GET", "url": url}),
            ),
        ],
        vec![edge("hook", "call")],
    ))
}

async fn fails_without_traffic(app: &TestApp, server: &MockServer, url: &str) -> String {
    let user = TestUser::new();
    let execution = app.run(&call(url).job(&user, json!({})), &user).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    let step = step(&execution, "call");
    assert_eq!(step["status"], "failed");
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "the request must never leave the executor"
    );
    let error = step["error"].as_str().unwrap().to_string();
    let summary = execution["error"].as_str().unwrap();
    assert!(summary.contains("step 'call' failed"), "{summary}");
    assert!(summary.contains(&error), "{summary}");
    error
}

#[tokio::test]
async fn a_loopback_address_is_refused_unless_allowed() {
    let app = spawn_app_with(Options {
        allow_networks: String::new(),
        ..Options::default()
    })
    .await;
    let server = MockServer::start().await;

    let error = fails_without_traffic(&app, &server, &format!("{}/", server.uri())).await;

    assert!(
        error.contains("127.0.0.1 is a private, loopback, link-local or metadata address"),
        "{error}"
    );
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_unless_allowed() {
    let app = spawn_app_with(Options {
        allow_networks: String::new(),
        ..Options::default()
    })
    .await;
    let server = MockServer::start().await;
    let port = server.address().port();

    let error = fails_without_traffic(&app, &server, &format!("http://localhost:{port}/")).await;

    assert!(error.contains("may not reach"), "{error}");
}

#[tokio::test]
async fn a_redirect_to_an_address_outside_the_allow_list_is_not_followed() {
    let app = spawn_app_with(Options {
        allow_networks: "127.0.0.1/32".into(),
        ..Options::default()
    })
    .await;
    let user = TestUser::new();
    let server = MockServer::start().await;
    let port = server.address().port();
    Mock::given(method("GET"))
        .and(path("/start"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("http://127.0.0.2:{port}/inside").as_str(),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let workflow = call(&format!("{}/start", server.uri()));
    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    let error = step(&execution, "call")["error"].as_str().unwrap();
    assert!(error.contains("redirect"), "{error}");
    assert!(error.contains("may not reach"), "{error}");
}
