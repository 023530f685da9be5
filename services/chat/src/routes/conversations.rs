//! History: a chatbot's conversations (newest first, by user email) and a
//! conversation's messages with sentiment, intent and tags.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::chat::normalise_email;
use super::chatbots::owned;
use crate::store::{chatbots, messages, sessions, tags};

#[derive(Deserialize, IntoParams)]
pub struct ConversationQuery {
    /// Only the conversations of this end user (any case).
    #[param(format = Email, max_length = 254)]
    pub user_email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationResponse {
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub user_email: Option<String>,
    pub message_count: i32,
    pub tags: Vec<String>,
    pub started_at: chrono::DateTime<Utc>,
    pub last_message_at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub items: Vec<ConversationResponse>,
    pub total: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// `widget` (the end user), `faq`, `llm`, `fallback` or `workflow`.
    pub source: String,
    pub sentiment_score: Option<f64>,
    pub sentiment_label: Option<String>,
    pub intent: Option<String>,
    pub intent_confidence: Option<f64>,
    /// Tags a workflow set on the conversation because of this message.
    pub tags: Vec<String>,
    pub created_at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub session_id: Uuid,
    pub chatbot_id: Uuid,
    pub user_email: Option<String>,
    /// Every tag of the conversation.
    pub tags: Vec<String>,
    pub items: Vec<MessageResponse>,
    pub total: u64,
}

#[utoipa::path(get, path = "/api/v1/chatbots/{id}/conversations", operation_id = "listConversations", tag = "chat", security(("bearer" = [])), params(ConversationQuery, PaginationParams),
    responses((status = 200, body = ConversationList), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
    query: web::Query<ConversationQuery>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let bot = owned(&db, *id, &user).await?;
    let mut find = sessions::Entity::find().filter(sessions::Column::ChatbotId.eq(bot.id));
    if query
        .user_email
        .as_deref()
        .is_some_and(|e| e.trim().is_empty())
    {
        return Err(super::invalid(
            "user_email",
            "is empty; leave it out to list every conversation",
        ));
    }
    if let Some(email) = normalise_email(query.user_email.as_deref())? {
        find = find.filter(sessions::Column::UserEmail.eq(email));
    }
    let total = find.clone().count(db.get_ref()).await?;
    let rows = find
        .order_by_desc(sessions::Column::LastMessageAt)
        .order_by_desc(sessions::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
    let mut tag_map = tags::of_sessions(db.get_ref(), &ids).await?;
    let items = rows
        .into_iter()
        .map(|s| ConversationResponse {
            tags: tag_map
                .remove(&s.id)
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.tag)
                .collect(),
            id: s.id,
            chatbot_id: s.chatbot_id,
            user_email: s.user_email,
            message_count: s.message_count,
            started_at: s.started_at,
            last_message_at: s.last_message_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ConversationList { items, total }))
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", operation_id = "listConversationMessages", tag = "chat", security(("bearer" = [])), params(PaginationParams),
    responses((status = 200, body = MessageList), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn messages(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("conversation");
    let session = sessions::Entity::find_by_id(*id)
        .one(db.get_ref())
        .await?
        .ok_or_else(not_found)?;
    chatbots::find_owned(db.get_ref(), session.chatbot_id, user.id)
        .await?
        .ok_or_else(not_found)?;
    let find = messages::Entity::find().filter(messages::Column::SessionId.eq(session.id));
    let total = find.clone().count(db.get_ref()).await?;
    let rows = find
        .order_by_asc(messages::Column::CreatedAt)
        .order_by_asc(messages::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?;
    let session_tags = tags::of_sessions(db.get_ref(), &[session.id])
        .await?
        .remove(&session.id)
        .unwrap_or_default();
    let items = rows
        .into_iter()
        .map(|m| MessageResponse {
            tags: session_tags
                .iter()
                .filter(|t| t.message_id == Some(m.id))
                .map(|t| t.tag.clone())
                .collect(),
            id: m.id,
            role: m.role,
            content: m.content,
            source: m.source,
            sentiment_score: m.sentiment_score,
            sentiment_label: m.sentiment_label,
            intent: m.intent,
            intent_confidence: m.intent_confidence,
            created_at: m.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(MessageList {
        session_id: session.id,
        chatbot_id: session.chatbot_id,
        user_email: session.user_email,
        tags: session_tags.into_iter().map(|t| t.tag).collect(),
        items,
        total,
    }))
}
