//! Run with: cargo test -p echoflow-gateway --test api executions_stream
//!
//! `GET /api/v1/executions/stream`: the caller's ExecutionUpdates as server-sent events.
//! The tests publish ExecutionUpdates on the gateway's in-process bus, as the executor does.

use std::time::Duration;

use echoflow_bus::topology::UPDATES_EXCHANGE;
use echoflow_bus::{OutgoingMessage, SharedBus};
use echoflow_contracts::{ExecutionUpdate, Message, PROTOBUF_CONTENT_TYPE, UpdateKind};
use reqwest::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, read, spawn_app, spawn_app_with_settings};

const STREAM: &str = "/api/v1/executions/stream";
/// Bounds every wait for a frame.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------- an SSE client ----------

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Comment(String),
    Event { id: u64, event: String, data: Value },
}

struct Sse {
    response: reqwest::Response,
    buffer: String,
}

/// How a stream request authenticates.
enum Auth<'a> {
    Header(&'a str),
    Query(&'a str),
}

/// A client without an overall timeout (the stream stays open); each read has its own deadline.
fn streaming_client() -> Client {
    Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

impl Sse {
    /// Opens the stream with `query` (e.g. `workflow_id=...`) and checks it is an event stream.
    async fn open(app: &TestApp, auth: Auth<'_>, query: &str) -> Self {
        let response = stream_request(app, auth, query).await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let mut sse = Self {
            response,
            buffer: String::new(),
        };
        assert_eq!(sse.frame().await, Some(Frame::Comment("connected".into())));
        sse
    }

    /// The next frame, or `None` once the server ended the stream.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout(DEADLINE, self.response.chunk())
                .await
                .expect("a frame within the deadline")
                .expect("the stream reads");
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => {
                    assert!(self.buffer.is_empty(), "cut off: {:?}", self.buffer);
                    return None;
                }
            }
        }
    }

    /// The next event (comments skipped): `(id, event name, data)`.
    async fn event(&mut self) -> (u64, String, Value) {
        loop {
            match self.frame().await.expect("the stream is open") {
                Frame::Event { id, event, data } => return (id, event, data),
                Frame::Comment(_) => {}
            }
        }
    }
}

fn parse(block: &str) -> Frame {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            return Frame::Comment(comment.trim().to_owned());
        }
        let (field, value) = line.split_once(": ").expect("a `field: value` line");
        match field {
            "id" => id = Some(value.parse().expect("a numeric id")),
            "event" => event = Some(value.to_owned()),
            "data" => data = Some(serde_json::from_str(value).expect("JSON data")),
            other => panic!("unexpected field {other} in {block:?}"),
        }
    }
    Frame::Event {
        id: id.expect("an id"),
        event: event.expect("an event name"),
        data: data.expect("data"),
    }
}

async fn stream_request(app: &TestApp, auth: Auth<'_>, query: &str) -> reqwest::Response {
    let url = format!("{}?{query}", app.url(STREAM));
    let request = match auth {
        Auth::Header(token) => streaming_client().get(&url).bearer_auth(token),
        Auth::Query(token) => streaming_client().get(format!("{url}&access_token={token}")),
    };
    tokio::time::timeout(DEADLINE, request.send())
        .await
        .expect("the stream answers in time")
        .unwrap()
}

// ---------- executions and their updates, as the executor publishes them ----------

#[derive(Debug, Clone, Copy)]
struct Run {
    owner: Uuid,
    workflow: Uuid,
    execution: Uuid,
    chatbot: Uuid,
}

impl Run {
    fn of(owner: Uuid) -> Self {
        Self::in_workflow(owner, Uuid::new_v4())
    }

    fn in_workflow(owner: Uuid, workflow: Uuid) -> Self {
        Self {
            owner,
            workflow,
            execution: Uuid::new_v4(),
            chatbot: Uuid::new_v4(),
        }
    }
}

/// One update's fields other than the run's.
struct Step<'a> {
    kind: UpdateKind,
    status: &'a str,
    node_id: &'a str,
    error: &'a str,
    duration_ms: i64,
}

fn started() -> Step<'static> {
    Step {
        kind: UpdateKind::Started,
        status: "running",
        node_id: "",
        error: "",
        duration_ms: 0,
    }
}

fn finished(status: &'static str) -> Step<'static> {
    Step {
        kind: UpdateKind::Finished,
        status,
        node_id: "",
        error: "",
        duration_ms: 40,
    }
}

/// Publishes the update as `services/executor/src/updates.rs` does; returns its `at`.
async fn publish(bus: &SharedBus, run: &Run, step: Step<'_>) -> String {
    let at = chrono::Utc::now().to_rfc3339();
    let update = ExecutionUpdate {
        execution_id: run.execution.to_string(),
        workflow_id: run.workflow.to_string(),
        owner_id: run.owner.to_string(),
        chatbot_id: run.chatbot.to_string(),
        kind: step.kind as i32,
        status: step.status.to_owned(),
        node_id: step.node_id.to_owned(),
        error: step.error.to_owned(),
        duration_ms: step.duration_ms,
        at: at.clone(),
    };
    let routing_key = match step.kind {
        UpdateKind::Started => "execution.started",
        UpdateKind::StepFinished => "execution.step_finished",
        UpdateKind::Finished => "execution.finished",
        UpdateKind::Unspecified => "execution.update",
    };
    let message = OutgoingMessage::new(
        Uuid::now_v7().to_string(),
        routing_key,
        PROTOBUF_CONTENT_TYPE,
        update.encode_to_vec(),
    );
    bus.publish(UPDATES_EXCHANGE, message).await.unwrap();
    at
}

/// A registered, signed-in user: (id, access token).
async fn user(app: &TestApp) -> (Uuid, String) {
    let (_, tokens) = app.signed_in_user().await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, me) = read(app.me(Some(&token)).await).await;
    assert_eq!(status, 200, "{me}");
    (me["id"].as_str().unwrap().parse().unwrap(), token)
}

fn execution_of(data: &Value) -> Uuid {
    data["execution_id"].as_str().unwrap().parse().unwrap()
}

// ---------- the tests ----------

#[tokio::test]
async fn a_client_receives_its_own_updates_in_order_with_every_field() {
    let app = spawn_app().await;
    let (me, token) = user(&app).await;
    let mut sse = Sse::open(&app, Auth::Header(&token), "").await;
    let run = Run::of(me);

    let at_started = publish(&app.bus, &run, started()).await;
    let at_fetch = publish(
        &app.bus,
        &run,
        Step {
            kind: UpdateKind::StepFinished,
            status: "completed",
            node_id: "fetch",
            error: "",
            duration_ms: 12,
        },
    )
    .await;
    let at_notify = publish(
        &app.bus,
        &run,
        Step {
            kind: UpdateKind::StepFinished,
            status: "failed",
            node_id: "notify",
            error: "HTTP 500 from the CRM",
            duration_ms: 7,
        },
    )
    .await;
    let at_finished = publish(
        &app.bus,
        &run,
        Step {
            error: "step notify failed",
            ..finished("failed")
        },
    )
    .await;

    let base = json!({
        "execution_id": run.execution,
        "workflow_id": run.workflow,
        "chatbot_id": run.chatbot,
    });
    let with = |fields: Value| {
        let mut expected = base.clone();
        expected
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        expected
    };
    let expected = [
        (
            "started",
            with(
                json!({"kind": "started", "status": "running", "duration_ms": 0, "at": at_started}),
            ),
        ),
        (
            "step_finished",
            with(
                json!({"kind": "step_finished", "status": "completed", "node_id": "fetch",
                "duration_ms": 12, "at": at_fetch}),
            ),
        ),
        (
            "step_finished",
            with(
                json!({"kind": "step_finished", "status": "failed", "node_id": "notify",
                "error": "HTTP 500 from the CRM", "duration_ms": 7, "at": at_notify}),
            ),
        ),
        (
            "finished",
            with(
                json!({"kind": "finished", "status": "failed", "error": "step notify failed",
                "duration_ms": 40, "at": at_finished}),
            ),
        ),
    ];
    let mut last_id = 0;
    for (name, data) in expected {
        let (id, event, received) = sse.event().await;
        assert_eq!(event, name);
        assert_eq!(received, data);
        assert!(id > last_id, "ids increase: {id} after {last_id}");
        last_id = id;
    }
}

#[tokio::test]
async fn another_users_updates_never_reach_a_client() {
    let app = spawn_app().await;
    let (alice, alice_token) = user(&app).await;
    let (bob, bob_token) = user(&app).await;
    let mut alice_stream = Sse::open(&app, Auth::Header(&alice_token), "").await;
    let mut bob_stream = Sse::open(&app, Auth::Header(&bob_token), "").await;
    let (alices, bobs, strangers) = (Run::of(alice), Run::of(bob), Run::of(Uuid::new_v4()));

    publish(&app.bus, &bobs, started()).await;
    publish(&app.bus, &strangers, started()).await;
    publish(&app.bus, &alices, started()).await;
    publish(&app.bus, &bobs, finished("completed")).await;
    publish(&app.bus, &strangers, finished("completed")).await;
    publish(&app.bus, &alices, finished("completed")).await;

    for stream_and_run in [(&mut alice_stream, alices), (&mut bob_stream, bobs)] {
        let (stream, run) = stream_and_run;
        let (_, first, data) = stream.event().await;
        assert_eq!(
            (first.as_str(), execution_of(&data)),
            ("started", run.execution)
        );
        // The next one is its own `finished`: everything of others published in between was skipped.
        let (_, second, data) = stream.event().await;
        assert_eq!(
            (second.as_str(), execution_of(&data)),
            ("finished", run.execution)
        );
    }
}

#[tokio::test]
async fn filters_select_by_workflow_and_by_execution() {
    let app = spawn_app().await;
    let (me, token) = user(&app).await;
    let workflow = Uuid::new_v4();
    let (first, second) = (
        Run::in_workflow(me, workflow),
        Run::in_workflow(me, workflow),
    );
    let (elsewhere, stray) = (Run::of(me), Run::of(me));
    let auth = || Auth::Header(&token);
    let mut by_workflow = Sse::open(&app, auth(), &format!("workflow_id={workflow}")).await;
    let mut by_execution = Sse::open(
        &app,
        auth(),
        &format!("execution_id={}", elsewhere.execution),
    )
    .await;
    let mut by_both = Sse::open(
        &app,
        auth(),
        &format!("workflow_id={workflow}&execution_id={}", first.execution),
    )
    .await;

    publish(&app.bus, &first, started()).await;
    publish(&app.bus, &elsewhere, started()).await;
    publish(&app.bus, &second, started()).await;
    publish(&app.bus, &stray, started()).await;
    publish(&app.bus, &elsewhere, finished("completed")).await;
    publish(&app.bus, &first, finished("completed")).await;

    async fn next(sse: &mut Sse) -> (String, Uuid) {
        let (_, event, data) = sse.event().await;
        (event, execution_of(&data))
    }
    let (started, finished) = ("started".to_owned(), "finished".to_owned());
    let mut workflow_events = Vec::new();
    for _ in 0..3 {
        workflow_events.push(next(&mut by_workflow).await);
    }
    assert_eq!(
        workflow_events,
        [
            (started.clone(), first.execution),
            (started.clone(), second.execution),
            (finished.clone(), first.execution),
        ]
    );
    assert_eq!(
        [next(&mut by_execution).await, next(&mut by_execution).await],
        [
            (started.clone(), elsewhere.execution),
            (finished.clone(), elsewhere.execution)
        ]
    );
    assert_eq!(
        [next(&mut by_both).await, next(&mut by_both).await],
        [(started, first.execution), (finished, first.execution)]
    );

    let response = stream_request(&app, Auth::Header(&token), "workflow_id=not-a-uuid").await;
    let (status, body) = read(response).await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "VALIDATION_ERROR");
}

#[tokio::test]
async fn the_stream_takes_the_token_as_a_query_parameter_too() {
    let app = spawn_app().await;
    let (me, token) = user(&app).await;
    let wanted = Run::of(me);
    let mut sse = Sse::open(
        &app,
        Auth::Query(&token),
        &format!("execution_id={}", wanted.execution),
    )
    .await;

    publish(&app.bus, &Run::of(me), started()).await;
    publish(&app.bus, &Run::of(Uuid::new_v4()), started()).await;
    publish(&app.bus, &wanted, started()).await;

    let (_, event, data) = sse.event().await;
    assert_eq!(
        (event.as_str(), execution_of(&data)),
        ("started", wanted.execution)
    );
}

#[tokio::test]
async fn without_a_token_the_stream_is_401() {
    let app = spawn_app().await;
    let (status, body) = read(
        streaming_client()
            .get(app.url(STREAM))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_error(&body, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_bad_token_is_401_in_the_header_and_in_the_query() {
    let app = spawn_app().await;
    let (_, token) = user(&app).await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let foreign = {
        let keys = echoflow_service_kit::JwtKeys::new(
            &secrecy::SecretString::from("another-secret-of-enough-length-0123456789"),
            60,
        );
        keys.issue(Uuid::new_v4(), "mallory@example.com").unwrap()
    };
    for bad in ["not-a-jwt", tampered.as_str(), foreign.as_str()] {
        for auth in [Auth::Header(bad), Auth::Query(bad)] {
            let (status, body) = read(stream_request(&app, auth, "").await).await;
            assert_eq!(status, 401, "{bad}: {body}");
            assert_error(&body, "UNAUTHORIZED");
        }
    }
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app = spawn_app_with_settings(vec![("live.keep_alive_secs", "1".into())]).await;
    let (_, token) = user(&app).await;
    let mut sse = Sse::open(&app, Auth::Header(&token), "").await;
    for _ in 0..2 {
        assert_eq!(sse.frame().await, Some(Frame::Comment("keep-alive".into())));
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_gateway_stops_promptly() {
    let mut app = spawn_app().await;
    let (me, token) = user(&app).await;
    let mut first = Sse::open(&app, Auth::Header(&token), "").await;
    let mut second = Sse::open(&app, Auth::Query(&token), "").await;
    publish(&app.bus, &Run::of(me), started()).await;
    first.event().await;
    second.event().await;

    let began = tokio::time::Instant::now();
    // Well under the server's 10 s graceful-stop timeout: the streams do not hold it up.
    app.stop(Duration::from_secs(5)).await;
    assert!(began.elapsed() < Duration::from_secs(5));
    for stream in [&mut first, &mut second] {
        loop {
            match stream.frame().await {
                None => break,
                Some(Frame::Comment(_)) => {}
                Some(event) => panic!("an event after shutdown: {event:?}"),
            }
        }
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_stream() {
    let app = spawn_app().await;
    let (status, doc) = read(app.get("/api/openapi.json").await).await;
    assert_eq!(status, 200);
    let get = &doc["paths"][STREAM]["get"];
    assert!(get.is_object(), "{}", doc["paths"]);
    let params: Vec<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["workflow_id", "execution_id", "access_token"]);
    assert!(
        get["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{get}"
    );
    let schema = &doc["components"]["schemas"]["ExecutionUpdateEvent"]["properties"];
    for field in [
        "execution_id",
        "workflow_id",
        "chatbot_id",
        "kind",
        "status",
        "node_id",
        "error",
        "duration_ms",
        "at",
    ] {
        assert!(schema[field].is_object(), "{field} missing from {schema}");
    }
}
