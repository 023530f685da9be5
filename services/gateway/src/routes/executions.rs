//! `GET /api/v1/executions/stream`: the caller's ExecutionUpdates as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use echoflow_service_kit::AuthUser;
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::live::{LiveUpdate, LiveUpdates};

pub const STREAM_PATH: &str = "/api/v1/executions/stream";

/// Optional filters; `access_token` is taken out of the query before routing (see [`lift_access_token`]).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only this workflow's executions.
    pub workflow_id: Option<Uuid>,
    /// Only this execution.
    pub execution_id: Option<Uuid>,
    /// The access token, for clients that cannot send headers (`EventSource`); this route only.
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

/// Which updates one stream shows.
#[derive(Debug, Clone, Copy)]
pub struct StreamFilter {
    pub owner_id: Uuid,
    pub workflow_id: Option<Uuid>,
    pub execution_id: Option<Uuid>,
}

impl StreamFilter {
    fn admits(&self, update: &LiveUpdate) -> bool {
        update.owner_id == self.owner_id
            && self
                .workflow_id
                .is_none_or(|id| id == update.event.workflow_id)
            && self
                .execution_id
                .is_none_or(|id| id == update.event.execution_id)
    }
}

/// The caller's execution updates, live.
///
/// One event per update of the caller's own executions: `event:` is the kind
/// (`started`, `step_finished`, `finished`), `id:` increases with every update
/// and `data:` is an `ExecutionUpdateEvent`. An idle stream sends a
/// `: keep-alive` comment every 15 s; a client that falls behind skips ahead
/// and gets a comment saying how many updates it missed. Nothing is replayed:
/// the stream shows what happens while it is open. Browsers' `EventSource`
/// cannot send headers, so this route also takes the token as
/// `?access_token=`.
#[utoipa::path(get, path = "/api/v1/executions/stream", operation_id = "streamExecutionUpdates", tag = "executions",
    params(StreamQuery),
    responses(
        (status = 200, description = "server-sent events; each `data` is an ExecutionUpdateEvent", content_type = "text/event-stream", body = String),
        (status = 422, description = "a filter is not a UUID"),
        (status = 401, description = "no or bad token")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn stream(
    user: AuthUser,
    query: web::Query<StreamQuery>,
    live: web::Data<LiveUpdates>,
) -> HttpResponse {
    let filter = StreamFilter {
        owner_id: user.id,
        workflow_id: query.workflow_id,
        execution_id: query.execution_id,
    };
    let receiver = live.receiver();
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx-style proxies not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events(
            receiver,
            filter,
            live.keep_alive,
            live.stopping.clone(),
        ))
}

struct StreamState {
    receiver: broadcast::Receiver<Arc<LiveUpdate>>,
    filter: StreamFilter,
    keep_alive: tokio::time::Interval,
    stopping: CancellationToken,
    opened: bool,
}

/// The stream's frames: a first comment, then events, lag notices and keep-alives until the gateway stops.
pub fn events(
    receiver: broadcast::Receiver<Arc<LiveUpdate>>,
    filter: StreamFilter,
    keep_alive: Duration,
    stopping: CancellationToken,
) -> impl Stream<Item = Result<web::Bytes, Infallible>> + 'static {
    let mut interval =
        tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = StreamState {
        receiver,
        filter,
        keep_alive: interval,
        stopping,
        opened: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((Ok(web::Bytes::from(frame)), state))
    })
}

impl StreamState {
    async fn next_frame(&mut self) -> Option<String> {
        if !self.opened {
            // Flushes the head through intermediaries at once, so clients see the stream open.
            self.opened = true;
            return Some(": connected\n\n".to_owned());
        }
        loop {
            tokio::select! {
                biased;
                () = self.stopping.cancelled() => return None,
                received = self.receiver.recv() => match received {
                    Ok(update) if self.filter.admits(&update) => return Some(update.to_sse()),
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        return Some(format!(": missed {missed} updates (the client fell behind)\n\n"));
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.keep_alive.tick() => return Some(": keep-alive\n\n".to_owned()),
            }
        }
    }
}

/// Takes `?access_token=` (however percent-encoded its name) out of every URI, so that no log line or trace carries a token;
/// on the stream route only, it becomes an `Authorization: Bearer` header (unless one was
/// sent) for [`AuthUser`] (and likewise on the analytics stream); elsewhere it is dropped and never accepted. Runs first, before
/// the request logger.
pub fn lift_access_token(req: &mut ServiceRequest) {
    let accepted = req.path() == STREAM_PATH || req.path() == super::analytics::stream::STREAM_PATH;
    lift(req, accepted);
}

fn lift(req: &mut ServiceRequest, accepted: bool) {
    let token = echoflow_service_kit::query_credentials::take(req, &["access_token"])
        .into_iter()
        .next()
        .flatten();
    if accepted
        && let Some(token) = token
        && !req.headers().contains_key(header::AUTHORIZATION)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        req.headers_mut().insert(header::AUTHORIZATION, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::ExecutionUpdateEvent;
    use futures::StreamExt;

    fn live(seq: u64, owner_id: Uuid) -> Arc<LiveUpdate> {
        let event = ExecutionUpdateEvent {
            execution_id: Uuid::new_v4(),
            workflow_id: Uuid::new_v4(),
            chatbot_id: Uuid::new_v4(),
            kind: "started",
            status: "running".into(),
            node_id: None,
            error: None,
            duration_ms: 0,
            at: "2025-01-01T00:00:00+00:00".into(),
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
    ) -> String {
        let frame = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a frame in time")
            .expect("the stream is open")
            .unwrap();
        String::from_utf8(frame.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_lagging_client_skips_ahead_and_is_told_how_many_it_missed() {
        let owner = Uuid::new_v4();
        let (sender, receiver) = broadcast::channel(2);
        let filter = StreamFilter {
            owner_id: owner,
            workflow_id: None,
            execution_id: None,
        };
        let stopping = CancellationToken::new();
        let mut stream = Box::pin(events(
            receiver,
            filter,
            Duration::from_secs(60),
            stopping.clone(),
        ));
        assert_eq!(next(&mut stream).await, ": connected\n\n");
        for seq in 1..=5 {
            sender.send(live(seq, owner)).unwrap();
        }
        assert_eq!(
            next(&mut stream).await,
            ": missed 3 updates (the client fell behind)\n\n"
        );
        assert!(
            next(&mut stream)
                .await
                .starts_with("id: 4\nevent: started\n")
        );
        assert!(next(&mut stream).await.starts_with("id: 5\n"));
        stopping.cancel();
        assert!(
            stream.next().await.is_none(),
            "the stream ends when the gateway stops"
        );
    }

    #[tokio::test]
    async fn the_query_token_moves_into_the_authorization_header_and_out_of_the_uri() {
        let mut req = actix_web::test::TestRequest::get()
            .uri("/api/v1/executions/stream?workflow_id=w&access_token=a%2Eb.c&execution_id=e")
            .to_srv_request();
        lift(&mut req, true);
        assert_eq!(req.query_string(), "workflow_id=w&execution_id=e");
        assert_eq!(
            req.headers().get(header::AUTHORIZATION).unwrap(),
            "Bearer a.b.c"
        );

        let mut req = actix_web::test::TestRequest::get()
            .uri("/api/v1/executions/stream?access_token=from-query")
            .insert_header((header::AUTHORIZATION, "Bearer from-header"))
            .to_srv_request();
        lift(&mut req, true);
        assert_eq!(req.query_string(), "");
        assert_eq!(
            req.headers().get(header::AUTHORIZATION).unwrap(),
            "Bearer from-header"
        );
    }

    #[test]
    fn elsewhere_the_query_token_is_dropped_and_not_accepted() {
        let mut req = actix_web::test::TestRequest::get()
            .uri("/api/v1/workflows?limit=5&access_token=secret-token")
            .to_srv_request();
        lift(&mut req, false);
        assert_eq!(req.query_string(), "limit=5");
        assert_eq!(req.uri().to_string(), "/api/v1/workflows?limit=5");
        assert!(req.headers().get(header::AUTHORIZATION).is_none());
    }

    #[test]
    fn a_percent_encoded_token_name_is_taken_out_too() {
        let mut req = actix_web::test::TestRequest::get()
            .uri("/api/v1/workflows?access%5Ftoken=secret-token&limit=5&%61ccess_token=again")
            .to_srv_request();
        lift(&mut req, false);
        assert_eq!(req.uri().to_string(), "/api/v1/workflows?limit=5");
        assert!(req.headers().get(header::AUTHORIZATION).is_none());

        let mut req = actix_web::test::TestRequest::get()
            .uri("/api/v1/executions/stream?access%5ftoken=a.b.c")
            .to_srv_request();
        lift(&mut req, true);
        assert_eq!(req.query_string(), "");
        assert_eq!(
            req.headers().get(header::AUTHORIZATION).unwrap(),
            "Bearer a.b.c"
        );
    }
}
