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

mod auth;
mod connection;
mod delivery;

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
