//! The analytics overview against known data sent through the public API:
//! conversations (FAQ hits, fallbacks, sentiments and intents as the chat
//! answers reported them) and executions (completed and failed runs, their
//! durations as the API reports them), every figure asserted; another user
//! sees zeros; the dashboard stream delivers a run as it happens.

use std::time::Duration;

use echoflow_test_support::api::{Api, Chatbot};
use serde_json::{Value, json};

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

async fn manual_workflow(api: &Api, name: &str, action: Value) -> String {
    let body = json!({"name": name, "chatbot_id": api.chatbot_id(), "flow_definition": {
        "nodes": [node("start", "trigger.manual", json!({})), action],
        "edges": [{"id": "e1", "source": "start", "target": "call"}]}});
    let (status, wf) = api.post("/api/v1/workflows", &body).await;
    assert_eq!(status, 201, "{wf}");
    wf["id"].as_str().unwrap().to_owned()
}

async fn run(api: &Api, workflow: &str) -> Value {
    let (status, accepted) = api
        .post(
            &format!("/api/v1/workflows/{workflow}/execute"),
            &json!({"input": {}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    api.wait_finished(accepted["execution_id"].as_str().unwrap())
        .await
}

/// Milliseconds from start to end, as the overview bins them (two significant digits, up).
fn binned_ms(execution: &Value) -> u64 {
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(execution[field].as_str().unwrap()).unwrap()
    };
    let ms = (at("completed_at") - at("started_at"))
        .num_milliseconds()
        .max(0) as u64;
    let mut unit = 1;
    while ms / unit >= 100 {
        unit *= 10;
    }
    ms.div_ceil(unit) * unit
}

fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn say(api: &Api, bot: &Chatbot, body: Value) -> Value {
    let (status, answer) = api.chat(bot, body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn overview_path(chatbot: Option<&str>) -> String {
    let now = chrono::Utc::now();
    let mut path = format!(
        "/api/v1/analytics/overview?bucket=hour&from={}&to={}",
        (now - chrono::TimeDelta::hours(2)).format("%Y-%m-%dT%H:00:00Z"),
        (now + chrono::TimeDelta::hours(2)).format("%Y-%m-%dT%H:00:00Z")
    );
    if let Some(id) = chatbot {
        path.push_str(&format!("&chatbot_id={id}"));
    }
    path
}

pub async fn overview_of_known_data(base: &str) {
    let mut api = Api::new(base);
    api.sign_up(&format!(
        "analytics-{}@example.com",
        uuid::Uuid::new_v4().simple()
    ))
    .await;
    let bot = api.chatbot.clone().unwrap();
    let (status, _) = api
        .post(
            &format!("/api/v1/chatbots/{}/faqs", bot.id),
            &json!({"question": "What are your opening hours?", "answer": "Monday to Saturday, 9am to 6pm."}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .post(
            &format!("/api/v1/chatbots/{}/intents", bot.id),
            &json!({"name": "refund", "examples": ["I want a refund", "refund my order", "give me my money back"]}),
        )
        .await;
    assert_eq!(status, 201);
    // Three conversations: kim's (two turns), bo's, and an anonymous one.
    let first = say(
        &api,
        &bot,
        json!({"message": "What are your opening hours?", "user_email": "kim@example.com"}),
    )
    .await;
    let session = first["session_id"].as_str().unwrap().to_owned();
    let answers = vec![
        first,
        say(&api, &bot, json!({"message": "This is terrible, I hate it. I want a refund!", "session_id": session})).await,
        say(&api, &bot, json!({"message": "Thank you, you are wonderful and very helpful!", "user_email": "bo@example.com"})).await,
        say(&api, &bot, json!({"message": "xyzzy plugh"})).await,
    ];
    let label = |l: &str| {
        answers
            .iter()
            .filter(|a| a["sentiment"]["label"] == l)
            .count() as u64
    };
    let source = |s: &str| answers.iter().filter(|a| a["reply_source"] == s).count() as u64;
    let scores: f64 = answers
        .iter()
        .map(|a| a["sentiment"]["score"].as_f64().unwrap())
        .sum();
    let refunds = answers
        .iter()
        .filter(|a| a["intent"]["name"] == "refund")
        .count() as u64;
    assert!(source("faq") >= 1 && source("fallback") >= 1, "{answers:?}");

    let completes = manual_workflow(
        &api,
        "tally",
        node("call", "action.set", json!({"values": {"ok": true}})),
    )
    .await;
    let fails = manual_workflow(
        &api,
        "broken call",
        node(
            "call",
            "action.http_request",
            json!({"method": "GET", "url": "http://127.0.0.1:9/down", "timeout_ms": 2000}),
        ),
    )
    .await;
    let mut runs = vec![
        run(&api, &completes).await,
        run(&api, &completes).await,
        run(&api, &fails).await,
    ];
    assert_eq!(
        runs.iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["completed", "completed", "failed"]
    );
    let mut durations: Vec<u64> = runs.iter().map(binned_ms).collect();
    durations.sort_unstable();

    let (status, overview) = api.get(&overview_path(None)).await;
    assert_eq!(status, 200, "{overview}");
    let c = &overview["conversations"];
    assert_eq!(c["conversations"], 3, "{overview}");
    // A welcome opens each conversation; then the message and its reply per turn.
    assert_eq!(c["messages"], 3 + 2 * 4);
    assert_eq!(c["end_user_messages"], 4);
    assert_eq!(c["unique_end_users"], 3);
    assert_eq!(
        (
            &c["sentiment"]["positive"],
            &c["sentiment"]["neutral"],
            &c["sentiment"]["negative"]
        ),
        (
            &json!(label("positive")),
            &json!(label("neutral")),
            &json!(label("negative"))
        )
    );
    let average = c["sentiment"]["average_score"].as_f64().unwrap();
    assert!(
        (average - scores / 4.0).abs() < 1e-4,
        "{average} vs {}",
        scores / 4.0
    );
    let replies = &c["replies"];
    assert_eq!(
        (&replies["faq"], &replies["llm"], &replies["fallback"]),
        (&json!(source("faq")), &json!(0), &json!(source("fallback")))
    );
    let rate = replies["faq_hit_rate"].as_f64().unwrap();
    assert!((rate - source("faq") as f64 / 4.0).abs() < 1e-4);
    let expected_intents: Value = if refunds > 0 {
        json!([{"name": "refund", "count": refunds}])
    } else {
        json!([])
    };
    assert_eq!(c["top_intents"], expected_intents);
    let buckets = c["buckets"].as_array().unwrap();
    // From the start of the hour two hours ago to that of two hours ahead.
    assert_eq!(buckets.len(), 4, "hourly buckets over 4 hours");
    assert_eq!(
        buckets
            .iter()
            .map(|b| b["messages"].as_u64().unwrap())
            .sum::<u64>(),
        11
    );

    let e = &overview["executions"];
    assert_eq!(
        e["by_status"],
        json!({"queued": 0, "running": 0, "completed": 2, "failed": 1, "cancelled": 0})
    );
    assert_eq!(
        e["duration_ms"],
        json!({"count": 3, "p50": nearest_rank(&durations, 0.5), "p95": nearest_rank(&durations, 0.95)})
    );
    assert_eq!(
        e["top_failing_workflows"],
        json!([{"workflow_id": fails, "failures": 1}])
    );
    assert_eq!(
        e["top_failing_steps"],
        json!([{"workflow_id": fails, "node_id": "call", "failures": 1}])
    );
    assert_eq!(e["dead_letters"], json!({"total": 1, "not_replayed": 1}));
    let ended: u64 = e["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["completed"].as_u64().unwrap() + b["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(ended, 3);

    // Another user: zeros everywhere, and this user's chatbot is not theirs.
    let mut other = Api::new(base);
    other
        .sign_up(&format!(
            "analytics-other-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    let (status, theirs) = other.get(&overview_path(None)).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(
        (
            &theirs["conversations"]["messages"],
            &theirs["conversations"]["conversations"]
        ),
        (&json!(0), &json!(0))
    );
    assert_eq!(
        theirs["executions"]["by_status"],
        json!({"queued": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0})
    );
    assert_eq!(theirs["executions"]["dead_letters"]["total"], 0);
    let (status, _) = other.get(&overview_path(Some(&bot.id))).await;
    assert_eq!(status, 404);
    let (status, invalid) = api
        .get("/api/v1/analytics/overview?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (status, &invalid["error"]["details"]["path"]),
        (422, &json!("to"))
    );

    // The dashboard stream shows a run as it happens.
    let mut stream = api
        .client
        .get(format!("{base}/api/v1/analytics/stream"))
        .bearer_auth(api.token.as_deref().unwrap())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first_chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(first_chunk.is_some(), "the stream opened");
    runs.push(run(&api, &completes).await);
    let wanted = runs.last().unwrap()["id"].as_str().unwrap().to_owned();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen.contains("event: execution") && seen.contains(&wanted)) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the run's event within 10 s")
            .unwrap()
            .expect("the stream is open");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}
