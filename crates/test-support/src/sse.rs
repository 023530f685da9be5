//! Reading a server-sent event stream as a browser's `EventSource` would:
//! frame by frame, as the bytes arrive.

use std::time::{Duration, Instant};

use serde_json::Value;

/// One frame of a stream: a comment (`: ...`) or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Comment(String),
    Event {
        id: Option<String>,
        event: Option<String>,
        data: String,
    },
}

/// An open stream, read frame by frame.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
    ended: bool,
}

impl EventStream {
    /// Wraps an answer that must be a 200 `text/event-stream`.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "the stream did not open");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "not an event stream: {content_type}"
        );
        Self {
            response,
            buffer: String::new(),
            ended: false,
        }
    }

    /// The next frame; `None` once the stream ended. Panics after `within`.
    pub async fn next_frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(raw.trim_end_matches('\n')));
            }
            if self.ended {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
                Err(_) => panic!("no frame within {within:?}; buffered: {:?}", self.buffer),
            }
        }
    }

    /// The next event (comments skipped), with its `data` parsed as JSON. Panics when
    /// none comes within `within` or the stream ends.
    pub async fn next_event(&mut self, within: Duration) -> (Option<String>, Value) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_frame(left).await {
                Some(Frame::Event { id, data, .. }) => {
                    let value = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
                    return (id, value);
                }
                Some(Frame::Comment(_)) => {}
                None => panic!("the stream ended while an event was awaited"),
            }
        }
    }

    /// The next event whose id is not in `skip` (messages the client already
    /// knew of, whose announcement may still have been on its way).
    pub async fn next_event_except(
        &mut self,
        within: Duration,
        skip: &[String],
    ) -> (Option<String>, Value) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (id, value) = self.next_event(left).await;
            if !id.as_ref().is_some_and(|id| skip.contains(id)) {
                return (id, value);
            }
        }
    }

    /// Every event that arrives within `window`, in order (comments left out).
    pub async fn events_for(&mut self, window: Duration) -> Vec<(Option<String>, Value)> {
        let deadline = Instant::now() + window;
        let mut events = Vec::new();
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                if let Frame::Event { id, data, .. } = parse(raw.trim_end_matches('\n')) {
                    let value = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
                    events.push((id, value));
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.ended || left.is_zero() {
                return events;
            }
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
                Err(_) => return events,
            }
        }
    }
}

fn parse(raw: &str) -> Frame {
    if raw.lines().all(|l| l.starts_with(':')) {
        return Frame::Comment(raw.to_string());
    }
    let (mut id, mut event, mut data) = (None, None, Vec::new());
    for line in raw.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match field {
            "id" => id = Some(value),
            "event" => event = Some(value),
            "data" => data.push(value),
            _ => {}
        }
    }
    Frame::Event {
        id,
        event,
        data: data.join("\n"),
    }
}
