//! Run with: cargo test -p echoflow-integrations --test api limits
//!
//! Per-connection rate limits: the token bucket, and a provider's 429 with
//! Retry-After absorbed without a retry storm.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;

const POST_PATH: &str = "/slack/api/chat.postMessage";

/// Slack's API during a storm: 429 `Retry-After: 1` to the first `limit`
/// requests, then 200; records when each request arrived.
struct Storm {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    limit: usize,
}

impl Respond for Storm {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut arrivals = self.arrivals.lock().unwrap();
        arrivals.push(Instant::now());
        if arrivals.len() <= self.limit {
            ResponseTemplate::new(429).insert_header("Retry-After", "1")
        } else {
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.1"}))
        }
    }
}

#[tokio::test]
async fn a_429_storm_is_absorbed_without_hammering_the_provider() {
    const STORM: usize = 3;
    const CALLS: usize = 8;
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path(POST_PATH))
        .respond_with(Storm {
            arrivals: arrivals.clone(),
            limit: STORM,
        })
        .mount(&app.provider)
        .await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let request = app
            .client
            .post(app.url("/internal/actions/slack_post_message"))
            .header(INTERNAL_HEADER, INTERNAL_TOKEN)
            .json(&app.action_body(&connection, json!({"channel": "C1", "text": "hi"})));
        calls.spawn(async move {
            // The first call meets the storm alone; the rest come while
            // the provider's Retry-After runs.
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let response = request.send().await.unwrap();
            let retry_after = response.headers().get("retry-after").is_some();
            let (status, body) = read(response).await;
            (status, retry_after, body)
        });
    }
    let answers = calls.join_all().await;
    let mut ok = 0;
    for (status, retry_after, body) in &answers {
        match status {
            200 => ok += 1,
            429 => {
                assert!(retry_after, "429 without Retry-After: {body}");
                assert_error(body, "RATE_LIMITED");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok >= CALLS - 1, "{answers:?}");
    let arrivals = arrivals.lock().unwrap().clone();
    assert!(
        arrivals.len() <= CALLS + STORM,
        "the provider saw {} requests for {CALLS} calls",
        arrivals.len()
    );
    // Nobody called while the first Retry-After ran: the callers waited.
    let first = arrivals[0];
    for at in &arrivals[1..] {
        let since = at.duration_since(first);
        assert!(
            since >= Duration::from_millis(950),
            "a request {since:?} after a 429 with Retry-After: 1"
        );
    }
}

#[tokio::test]
async fn a_retry_after_longer_than_the_wait_budget_is_passed_on_and_honoured() {
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path(POST_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .expect(1)
        .mount(&app.provider)
        .await;
    let body = app.action_body(&connection, json!({"channel": "C1", "text": "hi"}));
    let (status, retry_after, answer) = app.action_with_headers("slack_post_message", &body).await;
    assert_eq!(status, 429, "{answer}");
    assert_error(&answer, "RATE_LIMITED");
    assert!(
        retry_after.is_some_and(|s| (29..=30).contains(&s)),
        "{retry_after:?}"
    );
    // The connection stays blocked: no request reaches the provider.
    let (status, retry_after, answer) = app.action_with_headers("slack_post_message", &body).await;
    assert_eq!(status, 429, "{answer}");
    assert!(
        retry_after.is_some_and(|s| (1..=30).contains(&s)),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn the_token_bucket_limits_each_connection() {
    let app = spawn_app_with(vec![
        (
            "integrations.providers.slack.requests_per_minute".into(),
            "1".into(),
        ),
        ("integrations.providers.slack.burst".into(), "2".into()),
        ("integrations.max_limiter_wait_ms".into(), "200".into()),
    ])
    .await;
    let connection = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path(POST_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.1"})),
        )
        .expect(2)
        .mount(&app.provider)
        .await;
    let body = app.action_body(&connection, json!({"channel": "C1", "text": "hi"}));
    for _ in 0..2 {
        let (status, answer) = app.action("slack_post_message", &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, retry_after, answer) = app.action_with_headers("slack_post_message", &body).await;
    assert_eq!(status, 429, "{answer}");
    assert_error(&answer, "RATE_LIMITED");
    // One request a minute: the next slot is about a minute away.
    assert!(
        retry_after.is_some_and(|s| (20..=60).contains(&s)),
        "{retry_after:?}"
    );
    assert_eq!(app.received_at(POST_PATH).await.len(), 2);
}

#[tokio::test]
async fn replicas_draw_from_one_bucket_per_connection() {
    replicas_share_the_bucket(spawn_app_with(one_a_minute()).await).await;
}

#[tokio::test]
async fn replicas_draw_from_one_bucket_per_connection_on_sqlite() {
    replicas_share_the_bucket(spawn_sqlite_app_with(one_a_minute()).await).await;
}

/// One request a minute, a burst of 2, and a short wait budget.
fn one_a_minute() -> Vec<(String, String)> {
    vec![
        (
            "integrations.providers.slack.requests_per_minute".into(),
            "1".into(),
        ),
        ("integrations.providers.slack.burst".into(), "2".into()),
        ("integrations.max_limiter_wait_ms".into(), "200".into()),
    ]
}

/// Two replicas on one database: the burst of 2 is spent once between
/// them (each had a bucket of its own before, so 4 calls passed).
async fn replicas_share_the_bucket(app: TestApp) {
    let replica = spawn_sibling(&app, one_a_minute()).await;
    let connection = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path(POST_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.1"})),
        )
        .expect(2)
        .mount(&app.provider)
        .await;
    let body = app.action_body(&connection, json!({"channel": "C1", "text": "hi"}));
    let (status, answer) = app.action("slack_post_message", &body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = replica.action("slack_post_message", &body).await;
    assert_eq!(status, 200, "{answer}");
    for instance in [&app, &replica] {
        let (status, retry_after, answer) = instance
            .action_with_headers("slack_post_message", &body)
            .await;
        assert_eq!(status, 429, "{answer}");
        assert_error(&answer, "RATE_LIMITED");
        assert!(
            retry_after.is_some_and(|s| (20..=60).contains(&s)),
            "{retry_after:?}"
        );
    }
    assert_eq!(app.received_at(POST_PATH).await.len(), 2);
}
