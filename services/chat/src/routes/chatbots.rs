//! Chatbots: create (the API key is shown once), list, get, update, delete,
//! rotate the key.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::chat::ChatContext;
use super::{invalid, optional_text, required_text};
use crate::api_key;
use crate::chatbot::ChatbotSettings;
use crate::settings::ChatSettings;
use crate::store::chatbots;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "Support bot", "welcome_message": "Hi! How can I help?", "settings": {}}))]
pub struct CreateChatbot {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub welcome_message: Option<String>,
    #[schema(value_type = Option<ChatbotSettings>)]
    pub settings: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateChatbot {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub welcome_message: Option<String>,
    /// Merged over the current settings; a key set to null goes back to its default.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ChatbotResponse {
    pub id: Uuid,
    pub name: String,
    pub welcome_message: Option<String>,
    pub settings: ChatbotSettings,
    /// Turns of conversation memory this chatbot uses.
    pub memory_window: u32,
    /// Only in the answers that create or rotate the key: store it, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    pub api_key_prefix: String,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ChatbotList {
    pub items: Vec<ChatbotResponse>,
    pub total: u64,
}

const NAME_MAX: usize = 200;
const WELCOME_MAX: usize = 2000;

fn response(
    model: chatbots::Model,
    api_key: Option<String>,
    chat: &ChatSettings,
) -> ChatbotResponse {
    let settings = ChatbotSettings::from_stored(&model.settings);
    ChatbotResponse {
        id: model.id,
        name: model.name,
        welcome_message: model.welcome_message,
        memory_window: settings.memory_window.unwrap_or(chat.memory_window),
        settings,
        api_key,
        api_key_prefix: model.api_key_prefix,
        created_at: model.created_at,
        updated_at: model.updated_at,
    }
}

fn parse_settings(raw: Option<&Value>) -> Result<ChatbotSettings, ApiError> {
    ChatbotSettings::parse(raw.unwrap_or(&Value::Null)).map_err(|(path, msg)| invalid(&path, msg))
}

pub async fn owned(
    db: &DatabaseConnection,
    id: Uuid,
    user: &AuthUser,
) -> Result<chatbots::Model, ApiError> {
    chatbots::find_owned(db, id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("chatbot"))
}

#[utoipa::path(post, path = "/api/v1/chatbots", operation_id = "createChatbot", tag = "chatbots", security(("bearer" = [])), request_body = CreateChatbot,
    responses((status = 201, body = ChatbotResponse), (status = 422, description = "invalid field")))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn create(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    chat: web::Data<ChatSettings>,
    body: web::Json<CreateChatbot>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = required_text("name", &body.name, NAME_MAX)?;
    let welcome = optional_text(
        "welcome_message",
        body.welcome_message.as_deref(),
        WELCOME_MAX,
    )?;
    let settings = parse_settings(body.settings.as_ref())?;
    let key = api_key::generate();
    let now = Utc::now();
    let model = chatbots::ActiveModel {
        id: Set(Uuid::now_v7()),
        owner_id: Set(user.id),
        name: Set(name),
        welcome_message: Set(welcome),
        settings: Set(settings.to_json()),
        api_key_hash: Set(api_key::hash(&key)),
        api_key_prefix: Set(api_key::display_prefix(&key)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db.get_ref())
    .await?;
    Ok(HttpResponse::Created().json(response(model, Some(key), &chat)))
}

#[utoipa::path(get, path = "/api/v1/chatbots", operation_id = "listChatbots", tag = "chatbots", security(("bearer" = [])), params(PaginationParams),
    responses((status = 200, body = ChatbotList)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    chat: web::Data<ChatSettings>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let query = chatbots::Entity::find().filter(chatbots::Column::OwnerId.eq(user.id));
    let total = query.clone().count(db.get_ref()).await?;
    let items = query
        .order_by_desc(chatbots::Column::CreatedAt)
        .order_by_desc(chatbots::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?
        .into_iter()
        .map(|m| response(m, None, &chat))
        .collect();
    Ok(HttpResponse::Ok().json(ChatbotList { items, total }))
}

#[utoipa::path(get, path = "/api/v1/chatbots/{id}", operation_id = "getChatbot", tag = "chatbots", security(("bearer" = [])),
    responses((status = 200, body = ChatbotResponse), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn get(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    chat: web::Data<ChatSettings>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let model = owned(&db, *id, &user).await?;
    Ok(HttpResponse::Ok().json(response(model, None, &chat)))
}

#[utoipa::path(put, path = "/api/v1/chatbots/{id}", operation_id = "updateChatbot", tag = "chatbots", security(("bearer" = [])), request_body = UpdateChatbot,
    responses((status = 200, body = ChatbotResponse), (status = 404), (status = 422)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn update(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    chat: web::Data<ChatSettings>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateChatbot>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let current = owned(&db, *id, &user).await?;
    let name = optional_text("name", body.name.as_deref(), NAME_MAX)?;
    // An empty welcome message removes it.
    let welcome = match body.welcome_message.as_deref().map(str::trim) {
        Some("") => Some(None),
        other => optional_text("welcome_message", other, WELCOME_MAX)?.map(Some),
    };
    let settings = match &body.settings {
        Some(patch) => Some(
            ChatbotSettings::from_stored(&current.settings)
                .merged(patch)
                .map_err(|(path, msg)| invalid(&path, msg))?,
        ),
        None => None,
    };
    let mut active = current.into_active_model();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(welcome) = welcome {
        active.welcome_message = Set(welcome);
    }
    if let Some(settings) = settings {
        active.settings = Set(settings.to_json());
    }
    active.updated_at = Set(Utc::now());
    let model = active.update(db.get_ref()).await?;
    Ok(HttpResponse::Ok().json(response(model, None, &chat)))
}

/// Delete a chatbot. Its FAQs, intents, end users and conversations are
/// deleted with it at once; `chatbot.deleted` then makes the registry delete
/// its workflows (with their webhooks and schedules) and the executor cancel
/// its unfinished executions.
#[utoipa::path(delete, path = "/api/v1/chatbots/{id}", operation_id = "deleteChatbot", tag = "chatbots", security(("bearer" = [])),
    responses((status = 204, description = "deleted, with its conversations; its workflows follow within seconds"), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn delete(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    ctx: web::Data<ChatContext>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let txn = echoflow_service_kit::db::begin_writer(db.get_ref()).await?;
    let model = chatbots::find_owned(&txn, *id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("chatbot"))?;
    crate::lifecycle::delete_chatbot(&txn, &model).await?;
    txn.commit().await?;
    ctx.relay.notify();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/chatbots/{id}/api-key/rotate", operation_id = "rotateChatbotKey", tag = "chatbots", security(("bearer" = [])),
    responses((status = 200, body = ChatbotResponse, description = "with the new `api_key`; the old key stops working at once"), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn rotate_key(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    chat: web::Data<ChatSettings>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let current = owned(&db, *id, &user).await?;
    let key = api_key::generate();
    let mut active = current.into_active_model();
    active.api_key_hash = Set(api_key::hash(&key));
    active.api_key_prefix = Set(api_key::display_prefix(&key));
    active.updated_at = Set(Utc::now());
    let model = active.update(db.get_ref()).await?;
    Ok(HttpResponse::Ok().json(response(model, Some(key), &chat)))
}
