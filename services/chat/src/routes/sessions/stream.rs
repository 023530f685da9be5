//! `GET /api/v1/chat/sessions/{session_id}/stream`: every new message of one
//! conversation as a server-sent event, the moment it is committed (on any
//! chat replica: see [`crate::live`]).

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use echoflow_service_kit::{ApiError, ErrorCode};
use futures::Stream;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use uuid::Uuid;

use super::proven_grant;
use crate::live::{OpenStream, SessionMessage, SessionStreams, TooManyStreams};
use crate::session_token::SessionTokens;
use crate::store::messages;

/// At most this many missed messages are replayed after `Last-Event-ID`; a
/// client further behind reads the rest from `/messages`.
pub const REPLAY_MAX: u64 = 200;

/// Credentials for clients that cannot send headers (`EventSource`); taken
/// out of the URI before anything logs it (see [`super::lift_stream_credentials`]).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamQuery {
    /// The chatbot key, instead of the `X-Chatbot-Key` header; this route only.
    pub chatbot_key: Option<String>,
    /// The session token, instead of the `X-Session-Token` header; this route only.
    pub session_token: Option<String>,
}

/// The conversation's new messages, live.
///
/// One event per message committed after the stream opened (the end user's,
/// the replies, and what a workflow's `action.send_message` sends): `event:
/// message`, `id:` the message id and `data:` a `SessionMessage`. A client
/// that reconnects with `Last-Event-ID` first gets what it missed (up to 200
/// messages). An idle stream sends a `: keep-alive` comment every 15 s; a
/// client too slow to read is cut off with a comment and reconnects. The
/// stream ends (a comment, then the end of the body) within seconds of the
/// chatbot's key being rotated, the chatbot deleted or the conversation
/// erased; reconnecting then answers 401 or 404.
#[utoipa::path(get, path = "/api/v1/chat/sessions/{session_id}/stream", tag = "chat",
    operation_id = "streamSessionMessages",
    params(("session_id" = Uuid, Path, description = "the `session_id` of a chat answer"),
        ("Last-Event-ID" = Option<Uuid>, Header, description = "the last message id received; what came after it is sent first"),
        StreamQuery),
    security(("chatbotKey" = [], "sessionToken" = [])),
    responses(
        (status = 200, description = "server-sent events; each `data` is a SessionMessage", content_type = "text/event-stream", body = String),
        (status = 401, description = "the chatbot key or the session token is missing, or not this conversation's"),
        (status = 403, description = "ORIGIN_NOT_ALLOWED: the chatbot does not accept requests from the page's origin"),
        (status = 404, description = "the conversation no longer exists"),
        (status = 429, description = "too many streams are open on this conversation, or too many requests with this key"),
        (status = 503, description = "SERVICE_UNAVAILABLE: too many streams are open on this server (`session_stream.max_open`; retry after `Retry-After`), or a service or database this route needs is down"),
        (status = 500, description = "an unexpected failure")))]
#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn stream(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    tokens: web::Data<SessionTokens>,
    hub: web::Data<SessionStreams>,
    session_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (session, grant) = proven_grant(&req, &db, &tokens, *session_id).await?;
    // Open before the replay is read: a message committed meanwhile is in one
    // or the other (or both, and then sent once).
    let open = match hub.open(grant) {
        Ok(open) => open,
        Err(full) => return Ok(refusal(&full)),
    };
    let replay = match last_event_id(&req) {
        Some(last) => missed(&db, session.id, last).await?,
        None => Vec::new(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx-style proxies not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(frames(open, replay, hub.keep_alive, hub.stopping.clone())))
}

/// A stream that cannot be opened now: 429 when the conversation has its
/// streams here, 503 when this replica has; both with `Retry-After`.
fn refusal(full: &TooManyStreams) -> HttpResponse {
    let error = match *full {
        TooManyStreams::OnSession(max) => ApiError::new(
            ErrorCode::RateLimited,
            format!("{max} streams are already open on this conversation"),
        )
        .with_details(json!({"max_per_session": max})),
        TooManyStreams::OnReplica(max) => ApiError::unavailable(
            "too many conversation streams are open on this server; retry shortly",
        )
        .with_details(json!({"max_open": max})),
    };
    let mut answer = error.error_response();
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    answer
}

fn last_event_id(req: &HttpRequest) -> Option<Uuid> {
    req.headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
}

/// The messages of the session after `last` (if it is one of the session's), oldest first.
async fn missed(
    db: &DatabaseConnection,
    session_id: Uuid,
    last: Uuid,
) -> Result<Vec<SessionMessage>, DbErr> {
    let in_session = messages::Column::SessionId.eq(session_id);
    let Some(last) = messages::Entity::find_by_id(last)
        .filter(in_session.clone())
        .one(db)
        .await?
    else {
        return Ok(Vec::new());
    };
    let after = Condition::any()
        .add(messages::Column::CreatedAt.gt(last.created_at))
        .add(
            Condition::all()
                .add(messages::Column::CreatedAt.eq(last.created_at))
                .add(messages::Column::Id.gt(last.id)),
        );
    Ok(messages::Entity::find()
        .filter(in_session)
        .filter(after)
        .order_by_asc(messages::Column::CreatedAt)
        .order_by_asc(messages::Column::Id)
        .limit(REPLAY_MAX)
        .all(db)
        .await?
        .iter()
        .map(SessionMessage::from)
        .collect())
}

struct StreamState {
    open: OpenStream,
    replay: VecDeque<String>,
    /// Replayed messages, so the live copy of one is not sent again.
    replayed: HashSet<Uuid>,
    keep_alive: tokio::time::Interval,
    stopping: CancellationToken,
    opened: bool,
    cut_off: bool,
}

/// The stream's frames: a first comment, the replay, then messages and
/// keep-alives until chat stops or the client falls too far behind.
pub fn frames(
    open: OpenStream,
    replay: Vec<SessionMessage>,
    keep_alive: Duration,
    stopping: CancellationToken,
) -> impl Stream<Item = Result<web::Bytes, Infallible>> + 'static {
    let mut interval =
        tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = StreamState {
        open,
        replayed: replay.iter().map(|m| m.id).collect(),
        replay: replay.iter().filter_map(|m| m.to_sse().ok()).collect(),
        keep_alive: interval,
        stopping,
        opened: false,
        cut_off: false,
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
        if let Some(frame) = self.replay.pop_front() {
            return Some(frame);
        }
        if self.cut_off {
            return None;
        }
        loop {
            tokio::select! {
                biased;
                () = self.stopping.cancelled() => return None,
                () = self.open.revoked.cancelled() => {
                    self.cut_off = true;
                    return Some(
                        ": this conversation is no longer open to this stream\n\n".to_owned(),
                    );
                }
                received = self.open.receiver.recv() => match received {
                    Some(m) if self.replayed.contains(&m.id) => {}
                    Some(m) => return Some(m.frame.clone()),
                    None => {
                        self.cut_off = true;
                        return Some(
                            ": the client fell behind; reconnect with Last-Event-ID\n\n".to_owned(),
                        );
                    }
                },
                _ = self.keep_alive.tick() => return Some(": keep-alive\n\n".to_owned()),
            }
        }
    }
}
