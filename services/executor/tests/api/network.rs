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
async fn the_same_loopback_urls_are_reached_once_allowed() {
    // The counterpart of the two refusals above: the target is there, so
    // their "nothing received" is the guard's doing.
    loopback_urls_are_reached_under("public").await;
}

/// With 127.0.0.0/8 allowed under `egress`, a server on 127.0.0.1 is
/// reached by address and by name.
async fn loopback_urls_are_reached_under(egress: &str) {
    let app = spawn_app_with(Options {
        allow_networks: "127.0.0.0/8".into(),
        egress: egress.into(),
        ..Options::default()
    })
    .await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let port = server.address().port();

    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let user = TestUser::new();
        let execution = app.run(&call(&url).job(&user, json!({})), &user).await;
        assert_eq!(execution["status"], "completed", "{url}: {execution}");
    }
}

/// With only 127.0.0.2 allowed, a server there redirects to a second server
/// on 127.0.0.1 (by `location`): the redirect is refused, the second server
/// sees nothing.
async fn assert_redirect_refused(location: impl Fn(u16) -> String) {
    let app = spawn_app_with(Options {
        allow_networks: "127.0.0.2/32".into(),
        ..Options::default()
    })
    .await;
    let user = TestUser::new();
    let inside = MockServer::start().await;
    let outside = MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.2:0").unwrap())
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path("/start"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", location(inside.address().port()).as_str()),
        )
        .mount(&outside)
        .await;

    let workflow = call(&format!("{}/start", outside.uri()));
    let execution = app.run(&workflow.job(&user, json!({})), &user).await;

    assert_eq!(execution["status"], "failed", "{execution}");
    let error = step(&execution, "call")["error"].as_str().unwrap();
    assert!(error.contains("may not reach"), "{error}");
    assert!(
        !outside.received_requests().await.unwrap().is_empty(),
        "the allowed server was called"
    );
    assert!(
        inside.received_requests().await.unwrap().is_empty(),
        "the redirect must never reach 127.0.0.1"
    );
}

#[tokio::test]
async fn a_redirect_from_an_allowed_address_to_loopback_is_refused() {
    assert_redirect_refused(|port| format!("http://127.0.0.1:{port}/inside")).await;
}

#[tokio::test]
async fn a_redirect_from_an_allowed_address_to_a_loopback_name_is_refused() {
    assert_redirect_refused(|port| format!("http://localhost:{port}/inside")).await;
}

#[tokio::test]
async fn a_redirect_to_an_ipv4_mapped_loopback_address_is_refused() {
    assert_redirect_refused(|port| format!("http://[::ffff:127.0.0.1]:{port}/inside")).await;
}

/// `executor.egress = allowlist`: the listed network is reached, by
/// address and by name. (That a public address is refused in this mode is
/// the unit test in engine/nodes/network.rs: no test sends traffic off the machine.)
#[tokio::test]
async fn allowlist_egress_reaches_its_listed_network() {
    loopback_urls_are_reached_under("allowlist").await;
}

/// `executor.egress = allowlist` without 127.0.0.1 listed: refused before
/// any connection, as a configuration error naming the address and the
/// setting that would open it.
#[tokio::test]
async fn allowlist_egress_refuses_an_address_outside_its_networks() {
    let app = spawn_app_with(Options {
        allow_networks: "127.0.0.2/32".into(),
        egress: "allowlist".into(),
        ..Options::default()
    })
    .await;
    let server = MockServer::start().await;

    let error = fails_without_traffic(&app, &server, &format!("{}/", server.uri())).await;

    assert!(
        error.contains("127.0.0.1 is not in executor.allow_networks")
            && error.contains("executor.egress = allowlist"),
        "{error}"
    );
}
