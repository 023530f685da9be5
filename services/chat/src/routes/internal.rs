//! The internal API (service token): who owns a chatbot (for the registry),
//! and posting a message into or tagging a conversation (for the executor).
//! Every conversation call names the chatbot the calling workflow belongs
//! to, so a workflow can only act on its own chatbot's conversations.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_service_kit::{ApiError, ErrorCode, InternalCaller};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{chat::insert_message, invalid, required_text};
use crate::store::{chatbots, is_unique_violation, messages, sessions, tags};

#[derive(Serialize)]
pub struct ChatbotOwner {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
}

/// `GET /internal/chatbots/{id}`: 404 when there is no such chatbot.
#[tracing::instrument(skip_all, fields(chatbot_id = %id))]
pub async fn chatbot(
    _caller: InternalCaller,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let bot = chatbots::Entity::find_by_id(*id)
        .one(db.get_ref())
        .await?
        .ok_or_else(|| ApiError::not_found("chatbot"))?;
    Ok(HttpResponse::Ok().json(ChatbotOwner {
        id: bot.id,
        owner_id: bot.owner_id,
        name: bot.name,
    }))
}

#[derive(Deserialize)]
pub struct PostMessage {
    pub chatbot_id: Uuid,
    pub text: String,
    /// The same key posts once: a retried step gets the first message back.
    pub idempotency_key: Option<String>,
}

async fn session_of(
    db: &DatabaseConnection,
    session_id: Uuid,
    chatbot_id: Uuid,
) -> Result<sessions::Model, ApiError> {
    sessions::find_in_chatbot(db, session_id, chatbot_id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation"))
}

/// The answer to a repeated post: the message first posted with its key. Keys
/// are unique across all conversations, so a key first used in another
/// conversation (maybe another chatbot's) is a conflict, never that message.
fn replayed(
    existing: messages::Model,
    session: &sessions::Model,
) -> Result<HttpResponse, ApiError> {
    if existing.session_id != session.id {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the idempotency_key was already used in another conversation",
        ));
    }
    Ok(HttpResponse::Ok().json(
        json!({"message_id": existing.id, "session_id": existing.session_id, "created": false}),
    ))
}

/// `POST /internal/conversations/{id}/messages`: a workflow's message to the end user.
#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn post_message(
    _caller: InternalCaller,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
    body: web::Json<PostMessage>,
    ctx: web::Data<super::chat::ChatContext>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let text = required_text("text", &body.text, 10_000)?;
    let key = body
        .idempotency_key
        .as_deref()
        .map(|k| required_text("idempotency_key", k, 300))
        .transpose()?;
    let session = session_of(&db, *id, body.chatbot_id).await?;
    if let Some(k) = &key
        && let Some(existing) = messages::find_by_idempotency_key(db.get_ref(), k).await?
    {
        return replayed(existing, &session);
    }
    let now = Utc::now();
    let message_id = Uuid::now_v7();
    let txn = db.begin().await?;
    let inserted = insert_message(
        &txn,
        messages::Model {
            id: message_id,
            session_id: session.id,
            chatbot_id: session.chatbot_id,
            role: messages::ROLE_ASSISTANT.into(),
            content: text,
            source: "workflow".into(),
            sentiment_score: None,
            sentiment_label: None,
            intent: None,
            intent_confidence: None,
            idempotency_key: key.clone(),
            created_at: now,
        },
    )
    .await;
    match inserted {
        Ok(()) => {}
        // A concurrent retry with the same key won; answer with its message.
        Err(e) if is_unique_violation(&e) => {
            drop(txn);
            let existing = match &key {
                Some(k) => messages::find_by_idempotency_key(db.get_ref(), k).await?,
                None => None,
            }
            .ok_or_else(|| ApiError::internal(e))?;
            return replayed(existing, &session);
        }
        Err(e) => return Err(e.into()),
    }
    sessions::Entity::update_many()
        .col_expr(
            sessions::Column::MessageCount,
            Expr::col(sessions::Column::MessageCount).add(1),
        )
        .col_expr(sessions::Column::LastMessageAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(session.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    // The message's announcement leaves for the session streams now, not at the next poll.
    ctx.relay.notify();
    Ok(HttpResponse::Created()
        .json(json!({"message_id": message_id, "session_id": session.id, "created": true})))
}

#[derive(Deserialize)]
pub struct TagConversation {
    pub chatbot_id: Uuid,
    pub tag: String,
    /// The message the tag is for (the one that triggered the workflow).
    pub message_id: Option<Uuid>,
}

/// `POST /internal/conversations/{id}/tags`: sets a tag; setting it again changes nothing.
#[tracing::instrument(skip_all, fields(session_id = %id))]
pub async fn tag(
    _caller: InternalCaller,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
    body: web::Json<TagConversation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let tag = required_text("tag", &body.tag, 100)?;
    if tag.chars().any(char::is_control) {
        return Err(invalid("tag", "must not hold control characters"));
    }
    let session = session_of(&db, *id, body.chatbot_id).await?;
    // Only a message of this conversation may carry the tag.
    let message_id = match body.message_id {
        Some(m) => messages::Entity::find_by_id(m)
            .filter(messages::Column::SessionId.eq(session.id))
            .one(db.get_ref())
            .await?
            .map(|found| found.id),
        None => None,
    };
    tags::Entity::insert(tags::ActiveModel {
        session_id: Set(session.id),
        tag: Set(tag),
        message_id: Set(message_id),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([tags::Column::SessionId, tags::Column::Tag])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db.get_ref())
    .await?;
    let all: Vec<String> = tags::of_sessions(db.get_ref(), &[session.id])
        .await?
        .remove(&session.id)
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.tag)
        .collect();
    Ok(HttpResponse::Ok().json(json!({"session_id": session.id, "tags": all})))
}
