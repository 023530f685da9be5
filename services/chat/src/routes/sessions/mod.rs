//! The end user's side of a conversation, by the chatbot's widget key and
//! the session token the chat answer handed out: the messages so far, and
//! (in [`stream`]) every new one as it is committed.
//!
//! A request proves the chatbot with `X-Chatbot-Key` and the conversation
//! with `X-Session-Token`; the stream also takes both from the query
//! (`?chatbot_key=&session_token=`) for `EventSource`, which cannot send
//! headers. Without both, or with a token of another conversation, the
//! answer is 401 and tells nothing of the conversation, not even whether
//! it exists.

use actix_web::dev::ServiceRequest;
use actix_web::{HttpRequest, HttpResponse, web};
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, query_credentials};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api_key;
use crate::chatbot::ChatbotSettings;
use crate::live::{SessionMessage, StreamGrant};
use crate::session_token::SessionTokens;
use crate::store::{chatbots, messages, sessions};

pub mod stream;

pub const SESSION_TOKEN_HEADER: &str = "x-session-token";
const CHATBOT_KEY_HEADER: &str = "x-chatbot-key";

/// A conversation's messages as its end user sees them, oldest first.
#[derive(Serialize, ToSchema)]
pub struct SessionMessageList {
    pub session_id: Uuid,
    pub items: Vec<SessionMessage>,
    /// Messages in the conversation.
    pub total: u64,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The conversation the request proves: the chatbot by its key, the session by its token.
pub(crate) async fn proven_session(
    req: &HttpRequest,
    db: &DatabaseConnection,
    tokens: &SessionTokens,
    session_id: Uuid,
) -> Result<sessions::Model, ApiError> {
    proven_grant(req, db, tokens, session_id)
        .await
        .map(|(session, _)| session)
}

/// [`proven_session`], with what proved it: the stream keeps it to end when it is gone.
pub(crate) async fn proven_grant(
    req: &HttpRequest,
    db: &DatabaseConnection,
    tokens: &SessionTokens,
    session_id: Uuid,
) -> Result<(sessions::Model, StreamGrant), ApiError> {
    let key = header(req, CHATBOT_KEY_HEADER)
        .ok_or_else(|| ApiError::unauthorized("the X-Chatbot-Key header is required"))?;
    let token = header(req, SESSION_TOKEN_HEADER).ok_or_else(|| {
        ApiError::unauthorized("the X-Session-Token header is required")
            .with_details(json!({"header": "X-Session-Token"}))
    })?;
    let key_hash = api_key::hash(key);
    let bot = chatbots::find_by_key_hash(db, &key_hash)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the chatbot key is not valid"))?;
    // A page on an origin the chatbot does not allow reads nothing (403 ORIGIN_NOT_ALLOWED).
    crate::origin::admit(
        req,
        &ChatbotSettings::from_stored(&bot.settings).allowed_origins,
    )?;
    if !tokens.verify(bot.id, session_id, token) {
        return Err(
            ApiError::unauthorized("the session token is not valid for this conversation")
                .with_details(json!({"header": "X-Session-Token"})),
        );
    }
    let session = sessions::find_in_chatbot(db, session_id, bot.id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))?;
    let grant = StreamGrant {
        session_id: session.id,
        chatbot_id: bot.id,
        key_hash,
    };
    Ok((session, grant))
}

/// The conversation so far, oldest first, paged: what the widget shows on reload.
#[utoipa::path(get, path = "/api/v1/chat/sessions/{session_id}/messages", tag = "chat",
    operation_id = "listSessionMessages",
    params(("session_id" = Uuid, Path, description = "the `session_id` of a chat answer"), PaginationParams),
    security(("chatbotKey" = [], "sessionToken" = [])),
    responses(
        (status = 200, body = SessionMessageList),
        (status = 401, description = "the chatbot key or the session token is missing, or not this conversation's"),
        (status = 403, description = "ORIGIN_NOT_ALLOWED: the chatbot does not accept requests from the page's origin"),
        (status = 404, description = "the conversation no longer exists"),
        (status = 422, description = "`limit` or `offset` out of range"),
        (status = 429, description = "too many requests with this key"),
        (status = 500, description = "an unexpected failure")))]
#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn messages(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    tokens: web::Data<SessionTokens>,
    session_id: web::Path<Uuid>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let session = proven_session(&req, &db, &tokens, *session_id).await?;
    let find = messages::Entity::find().filter(messages::Column::SessionId.eq(session.id));
    let total = find.clone().count(db.get_ref()).await?;
    let items = find
        .order_by_asc(messages::Column::CreatedAt)
        .order_by_asc(messages::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?
        .iter()
        .map(SessionMessage::from)
        .collect();
    Ok(HttpResponse::Ok().json(SessionMessageList {
        session_id: session.id,
        items,
        total,
    }))
}

/// Whether `path` is a session stream (`/api/v1/chat/sessions/{id}/stream`).
pub fn is_stream_path(path: &str) -> bool {
    path.strip_prefix("/api/v1/chat/sessions/")
        .and_then(|rest| rest.strip_suffix("/stream"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Takes `?session_token=` and `?chatbot_key=` out of every URI before the
/// request logger sees it; on a session stream they become `X-Session-Token`
/// and `X-Chatbot-Key` (unless those headers were sent), elsewhere they are dropped.
pub fn lift_stream_credentials(req: &mut ServiceRequest) {
    let accepted = is_stream_path(req.path());
    query_credentials::lift(
        req,
        &[
            ("session_token", SESSION_TOKEN_HEADER),
            ("chatbot_key", CHATBOT_KEY_HEADER),
        ],
        accepted,
    );
}

#[cfg(test)]
mod tests {
    use super::is_stream_path;

    #[test]
    fn only_a_session_stream_path_is_one() {
        assert!(is_stream_path("/api/v1/chat/sessions/abc/stream"));
        assert!(!is_stream_path("/api/v1/chat/sessions//stream"));
        assert!(!is_stream_path("/api/v1/chat/sessions/a/b/stream"));
        assert!(!is_stream_path("/api/v1/chat/sessions/abc/messages"));
        assert!(!is_stream_path("/api/v1/executions/stream"));
    }
}
