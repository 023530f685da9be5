//! Run with: cargo test -p echoflow-executor --test api control::concurrency
//!
//! The concurrency limit of a workflow holds under a hundred triggers.

use serde_json::json;
use std::time::Duration;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn the_concurrency_limit_holds_under_a_hundred_triggers() {
    concurrency_limit_on(spawn_app().await).await;
}

#[tokio::test]
async fn the_concurrency_limit_holds_under_a_hundred_triggers_on_postgres_and_rabbitmq() {
    concurrency_limit_on(spawn_distributed_app().await).await;
}

async fn concurrency_limit_on(app: TestApp) {
    let user = TestUser::new();
    let server = MockServer::start().await;
    Mock::given(path("/work"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(40)))
        .mount(&server)
        .await;
    let mut definition = definition(
        vec![
            webhook("hook"),
            node(
                "work",
                "action.http_request",
                json!({"method": "POST", "url": format!("{}/work", server.uri())}),
            ),
        ],
        vec![edge("hook", "work")],
    );
    definition["settings"] = json!({"max_concurrency": 3});
    let flow = Workflow::new(definition);
    let jobs: Vec<_> = (0..100).map(|i| flow.job(&user, json!({"n": i}))).collect();
    for job in &jobs {
        app.publish_job(job).await;
    }
    let mut spans = Vec::new();
    for job in &jobs {
        let execution = app
            .wait_final_within(&job.execution_id, &user, Duration::from_secs(60))
            .await;
        assert_eq!(execution["status"], "completed", "{execution}");
        let start = chrono::DateTime::parse_from_rfc3339(execution["started_at"].as_str().unwrap())
            .unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(execution["completed_at"].as_str().unwrap())
            .unwrap();
        spans.push((start, end));
    }
    // At no moment were more than 3 running.
    let mut most = 0;
    for (start, _) in &spans {
        let running = spans
            .iter()
            .filter(|(s, e)| s <= start && start < e)
            .count();
        most = most.max(running);
    }
    assert!(most <= 3, "{most} ran at once");
    assert!(most >= 2, "the limit still lets runs overlap ({most})");
    assert_eq!(server.received_requests().await.unwrap().len(), 100);
}
