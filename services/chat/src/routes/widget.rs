//! What the chat widget reads with its chatbot key: the chatbot's public
//! config (name, welcome message, appearance, whether the FAQ tab shows) and
//! its FAQs for that tab, only the fields an end user should see.

use actix_web::{HttpRequest, HttpResponse, web};
use echoflow_service_kit::ApiError;
use echoflow_service_kit::pagination::{Pagination, PaginationParams};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::chat::CHATBOT_KEY_HEADER;
use crate::api_key;
use crate::appearance::WidgetAppearance;
use crate::chatbot::ChatbotSettings;
use crate::origin;
use crate::store::{chatbots, faqs};

/// The chatbot as its widget shows it.
#[derive(Serialize, ToSchema)]
pub struct WidgetConfig {
    pub chatbot_id: Uuid,
    pub name: String,
    /// Shown when the widget opens a conversation.
    pub welcome_message: Option<String>,
    /// The owner's `settings.widget` over the defaults: every field filled in.
    pub appearance: WidgetAppearance,
    /// Whether to show the FAQ tab: the owner did not turn it off
    /// (`settings.widget.faq_enabled`) and the chatbot has FAQs.
    pub faq_enabled: bool,
}

/// One FAQ as an end user sees it.
#[derive(Serialize, ToSchema)]
pub struct WidgetFaq {
    pub id: Uuid,
    pub question: String,
    pub answer: String,
    pub category: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WidgetFaqList {
    pub items: Vec<WidgetFaq>,
    pub total: u64,
}

/// The chatbot the request's `X-Chatbot-Key` opens, with the request's
/// origin admitted for it (403 `ORIGIN_NOT_ALLOWED` otherwise).
pub async fn open(
    req: &HttpRequest,
    db: &DatabaseConnection,
) -> Result<(chatbots::Model, ChatbotSettings), ApiError> {
    let key = req
        .headers()
        .get(CHATBOT_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the X-Chatbot-Key header is required"))?;
    let bot = chatbots::find_by_key_hash(db, &api_key::hash(key))
        .await?
        .ok_or_else(|| ApiError::unauthorized("the chatbot key is not valid"))?;
    let settings = ChatbotSettings::from_stored(&bot.settings);
    origin::admit(req, &settings.allowed_origins)?;
    Ok((bot, settings))
}

/// The widget's config: what to call the chatbot, how to look, what to say first.
#[utoipa::path(get, path = "/api/v1/chat/config", tag = "chat", operation_id = "getWidgetConfig",
    security(("chatbotKey" = [])),
    responses(
        (status = 200, body = WidgetConfig, description = "the public config; `Access-Control-Allow-Origin` echoes an admitted `Origin`"),
        (status = 401, description = "no chatbot key, or not a valid one"),
        (status = 403, description = "ORIGIN_NOT_ALLOWED: the chatbot does not accept requests from the page's origin"),
        (status = 429, description = "too many requests with this key"),
        (status = 500, description = "an unexpected failure")))]
#[tracing::instrument(skip_all)]
pub async fn config(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
) -> Result<HttpResponse, ApiError> {
    let (bot, settings) = open(&req, &db).await?;
    let widget = settings.widget.unwrap_or_default();
    let has_faqs = faqs::Entity::find()
        .filter(faqs::Column::ChatbotId.eq(bot.id))
        .limit(1)
        .one(db.get_ref())
        .await?
        .is_some();
    Ok(HttpResponse::Ok().json(WidgetConfig {
        chatbot_id: bot.id,
        faq_enabled: widget.faq_enabled.unwrap_or(true) && has_faqs,
        appearance: widget.resolved(&bot.name),
        name: bot.name,
        welcome_message: bot.welcome_message,
    }))
}

/// The chatbot's FAQs for the widget's FAQ tab, oldest first, paged.
#[utoipa::path(get, path = "/api/v1/chat/faqs", tag = "chat", operation_id = "listWidgetFaqs",
    security(("chatbotKey" = [])),
    params(PaginationParams),
    responses(
        (status = 200, body = WidgetFaqList, description = "a page of FAQs and how many there are"),
        (status = 401, description = "no chatbot key, or not a valid one"),
        (status = 403, description = "ORIGIN_NOT_ALLOWED: the chatbot does not accept requests from the page's origin"),
        (status = 422, description = "`limit` or `offset` out of range"),
        (status = 429, description = "too many requests with this key"),
        (status = 500, description = "an unexpected failure")))]
#[tracing::instrument(skip_all)]
pub async fn faqs(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    page: Pagination,
) -> Result<HttpResponse, ApiError> {
    let (bot, _) = open(&req, &db).await?;
    let query = faqs::Entity::find().filter(faqs::Column::ChatbotId.eq(bot.id));
    let total = query.clone().count(db.get_ref()).await?;
    let items = query
        .order_by_asc(faqs::Column::CreatedAt)
        .order_by_asc(faqs::Column::Id)
        .limit(page.limit)
        .offset(page.offset)
        .all(db.get_ref())
        .await?
        .into_iter()
        .map(|f| WidgetFaq {
            id: f.id,
            question: f.question,
            answer: f.answer,
            category: f.category,
        })
        .collect();
    Ok(HttpResponse::Ok().json(WidgetFaqList { items, total }))
}
