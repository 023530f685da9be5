//! Run with: cargo test -p echoflow-executor --test api control
//!
//! Retries by error class (counted and timed at the server) and waits that
//! hold no worker (`retries.rs`), cancel (`cancel.rs`), retry from the
//! failed step, dead letters and their replay (`replay.rs`), the concurrency
//! limit of a workflow (`concurrency.rs`) and retention (`retention.rs`).
//! This file holds what they share: a scripted server and request helpers.

mod cancel;
mod concurrency;
mod replay;
mod retention;
mod retries;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// Answers with `statuses` in turn (the last one for ever after) and records
/// when each request came.
#[derive(Clone)]
struct Script {
    statuses: Vec<ResponseTemplate>,
    seen: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    fn new(statuses: Vec<ResponseTemplate>) -> Self {
        Self {
            statuses,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn times(&self) -> Vec<Instant> {
        self.seen.lock().unwrap().clone()
    }

    /// The gaps between consecutive requests.
    fn gaps(&self) -> Vec<Duration> {
        self.times().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Instant::now());
        let i = (seen.len() - 1).min(self.statuses.len() - 1);
        self.statuses[i].clone()
    }
}

async fn scripted(statuses: Vec<ResponseTemplate>) -> (MockServer, Script) {
    let server = MockServer::start().await;
    let script = Script::new(statuses);
    Mock::given(path("/call"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    (server, script)
}

fn call_flow(server: &MockServer, extra: Value) -> Workflow {
    let mut config = json!({"method": "POST", "url": format!("{}/call", server.uri())});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    Workflow::new(definition(
        vec![webhook("hook"), node("call", "action.http_request", config)],
        vec![edge("hook", "call")],
    ))
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"code": code}))
}

async fn post(app: &TestApp, path: &str, user: &TestUser, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, user: &TestUser) -> Value {
    let response = app.get(path, Some(&user.token)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// Polls until the execution's status is `want` (15 s at most).
async fn wait_status(app: &TestApp, id: &str, user: &TestUser, want: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let execution: Value = app.get_execution(id, user).await.json().await.unwrap();
        if execution["status"] == want {
            return execution;
        }
        assert!(Instant::now() < deadline, "never {want}: {execution}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
