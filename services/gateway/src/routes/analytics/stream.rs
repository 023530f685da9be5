//! `GET /api/v1/analytics/stream`: a dashboard's live feed of the caller's
//! executions (started, finished, steps that failed) and a counters snapshot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_service_kit::AuthUser;
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::live::{LiveUpdate, LiveUpdates};

pub const STREAM_PATH: &str = "/api/v1/analytics/stream";

/// How the dashboard stream is paced (`ECHOFLOW_LIVE__COUNTERS_SECS`, `ECHOFLOW_LIVE__MAX_STREAM_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    /// Between two counters snapshots (they also keep an idle stream alive).
    pub counters: Duration,
    /// After this the stream ends; `EventSource` reconnects by itself.
    pub max_lifetime: Duration,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// Only this chatbot's executions.
    pub chatbot_id: Option<Uuid>,
    /// The access token, for clients that cannot send headers (`EventSource`); the stream routes only.
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

/// The `data` of a `counters` event: what the stream saw since it opened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct LiveCounters {
    /// When the stream opened (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Steps that failed (an execution may retry or continue past them).
    pub steps_failed: u64,
}

impl LiveCounters {
    /// Counts an update; false when the dashboard does not show it (a step that did not fail).
    fn count(&mut self, update: &LiveUpdate) -> bool {
        let event = &update.event;
        match (event.kind, event.status.as_str()) {
            ("started", _) => self.started += 1,
            ("finished", "completed") => self.completed += 1,
            ("finished", "failed") => self.failed += 1,
            ("finished", "cancelled") => self.cancelled += 1,
            ("finished", _) => {}
            ("step_finished", "failed") => self.steps_failed += 1,
            _ => return false,
        }
        true
    }

    fn to_sse(&self) -> String {
        let data = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        format!("event: counters\ndata: {data}\n\n")
    }
}

/// The caller's live dashboard.
///
/// Server-sent events of the caller's own executions: `event: execution`
/// (`data` an ExecutionUpdateEvent) when one starts, finishes or has a step
/// fail, and `event: counters` (`data` LiveCounters: what the stream saw since
/// it opened) at once and then every 5 s, which also keeps it alive. A client
/// that falls behind skips ahead and gets a comment saying how many updates it
/// missed. The stream ends after an hour (`EventSource` reconnects). Takes the
/// token as `?access_token=` too, for `EventSource`.
#[utoipa::path(get, path = "/api/v1/analytics/stream", operation_id = "streamAnalytics", tag = "analytics",
    params(DashboardQuery),
    responses(
        (status = 200, description = "server-sent events: `execution` (an ExecutionUpdateEvent) and `counters` (LiveCounters)", content_type = "text/event-stream", body = String),
        (status = 401, description = "no or bad token"),
        (status = 422, description = "`chatbot_id` is not a UUID")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn stream(
    user: AuthUser,
    query: web::Query<DashboardQuery>,
    live: web::Data<LiveUpdates>,
    timing: web::Data<StreamTiming>,
) -> HttpResponse {
    let filter = Filter {
        owner_id: user.id,
        chatbot_id: query.chatbot_id,
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events(
            live.receiver(),
            filter,
            *timing.get_ref(),
            live.stopping.clone(),
        ))
}

/// Whose updates one stream shows.
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub owner_id: Uuid,
    pub chatbot_id: Option<Uuid>,
}

struct State {
    receiver: broadcast::Receiver<Arc<LiveUpdate>>,
    filter: Filter,
    counters: LiveCounters,
    tick: tokio::time::Interval,
    ends: tokio::time::Instant,
    stopping: CancellationToken,
    opened: bool,
}

/// The stream's frames until its lifetime is over or the gateway stops.
pub fn events(
    receiver: broadcast::Receiver<Arc<LiveUpdate>>,
    filter: Filter,
    timing: StreamTiming,
    stopping: CancellationToken,
) -> impl Stream<Item = Result<web::Bytes, Infallible>> + 'static {
    let every = timing.counters.max(Duration::from_millis(100));
    // The first tick is at once: a dashboard shows its counters as soon as it connects.
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = State {
        receiver,
        filter,
        counters: LiveCounters {
            since: Utc::now(),
            ..LiveCounters::default()
        },
        tick,
        ends: tokio::time::Instant::now() + timing.max_lifetime,
        stopping,
        opened: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((Ok(web::Bytes::from(frame)), state))
    })
}

impl State {
    async fn next_frame(&mut self) -> Option<String> {
        if !self.opened {
            self.opened = true;
            return Some(": connected\n\n".to_owned());
        }
        loop {
            tokio::select! {
                biased;
                () = self.stopping.cancelled() => return None,
                () = tokio::time::sleep_until(self.ends) => return None,
                received = self.receiver.recv() => match received {
                    Ok(update) if self.admits(&update) => {
                        if self.counters.count(&update) {
                            return Some(format!("id: {}\nevent: execution\ndata: {}\n\n", update.seq, update.data));
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        return Some(format!(": missed {missed} updates (the client fell behind)\n\n"));
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.tick.tick() => return Some(self.counters.to_sse()),
            }
        }
    }

    fn admits(&self, update: &LiveUpdate) -> bool {
        update.owner_id == self.filter.owner_id
            && self
                .filter
                .chatbot_id
                .is_none_or(|id| id == update.event.chatbot_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ExecutionUpdateEvent;
    use futures::StreamExt;

    fn update(seq: u64, owner_id: Uuid, kind: &'static str, status: &str) -> Arc<LiveUpdate> {
        let event = ExecutionUpdateEvent {
            execution_id: Uuid::new_v4(),
            workflow_id: Uuid::new_v4(),
            chatbot_id: Uuid::new_v4(),
            kind,
            status: status.into(),
            node_id: None,
            error: None,
            duration_ms: 3,
            at: "2026-12-01T00:00:00+00:00".into(),
        };
        let data = serde_json::to_string(&event).unwrap();
        Arc::new(LiveUpdate {
            seq,
            owner_id,
            event,
            data,
        })
    }

    async fn next(
        stream: &mut (impl Stream<Item = Result<web::Bytes, Infallible>> + Unpin),
    ) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a frame in time")
            .map(|frame| String::from_utf8(frame.unwrap().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn only_the_callers_executions_are_shown_and_counted_then_the_stream_ends() {
        let owner = Uuid::new_v4();
        let (sender, receiver) = broadcast::channel(16);
        let timing = StreamTiming {
            counters: Duration::from_millis(300),
            max_lifetime: Duration::from_millis(1500),
        };
        let filter = Filter {
            owner_id: owner,
            chatbot_id: None,
        };
        let mut stream = Box::pin(events(receiver, filter, timing, CancellationToken::new()));
        assert_eq!(next(&mut stream).await.unwrap(), ": connected\n\n");
        assert!(next(&mut stream).await.unwrap().contains("\"started\":0"));
        sender
            .send(update(1, Uuid::new_v4(), "started", "running"))
            .unwrap();
        sender.send(update(2, owner, "started", "running")).unwrap();
        sender
            .send(update(3, owner, "step_finished", "completed"))
            .unwrap();
        sender
            .send(update(4, owner, "step_finished", "failed"))
            .unwrap();
        sender.send(update(5, owner, "finished", "failed")).unwrap();
        let frame = next(&mut stream).await.unwrap();
        assert!(
            frame.starts_with("id: 2\nevent: execution\ndata: {"),
            "{frame}"
        );
        assert!(
            next(&mut stream)
                .await
                .unwrap()
                .starts_with("id: 4\nevent: execution\n")
        );
        assert!(
            next(&mut stream)
                .await
                .unwrap()
                .starts_with("id: 5\nevent: execution\n")
        );
        let counters = next(&mut stream).await.unwrap();
        assert!(
            counters.starts_with("event: counters\ndata: "),
            "{counters}"
        );
        let data: serde_json::Value =
            serde_json::from_str(counters.trim_end().split("data: ").nth(1).unwrap()).unwrap();
        assert_eq!(
            (
                data["started"].as_u64(),
                data["failed"].as_u64(),
                data["steps_failed"].as_u64(),
                data["completed"].as_u64()
            ),
            (Some(1), Some(1), Some(1), Some(0))
        );
        // Past its lifetime the stream ends.
        let mut frames = 0;
        while next(&mut stream).await.is_some() {
            frames += 1;
            assert!(frames < 20, "the stream did not end");
        }
    }
}
