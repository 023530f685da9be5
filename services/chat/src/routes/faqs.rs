//! A chatbot's FAQs: list, add, change, remove.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::chatbots::owned;
use super::{invalid, optional_text, required_text};
use crate::store::faqs;

/// More than this many FAQs makes the built-in responder's index slow to
/// build per message; a chatbot that needs more wants a provider.
pub const MAX_FAQS_PER_CHATBOT: u64 = 2000;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"question": "What are your opening hours?", "answer": "Monday to Friday, 9:00 to 17:00.", "category": "general"}))]
pub struct FaqBody {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub question: String,
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub answer: String,
    #[schema(max_length = 100)]
    pub category: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FaqResponse {
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub question: String,
    pub answer: String,
    pub category: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct FaqList {
    pub items: Vec<FaqResponse>,
    pub total: u64,
}

impl From<faqs::Model> for FaqResponse {
    fn from(m: faqs::Model) -> Self {
        Self {
            id: m.id,
            chatbot_id: m.chatbot_id,
            question: m.question,
            answer: m.answer,
            category: m.category,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

struct CheckedFaq {
    question: String,
    answer: String,
    category: Option<String>,
}

fn check(body: FaqBody) -> Result<CheckedFaq, ApiError> {
    Ok(CheckedFaq {
        question: required_text("question", &body.question, 2000)?,
        answer: required_text("answer", &body.answer, 10_000)?,
        category: optional_text("category", body.category.as_deref(), 100)?,
    })
}

#[utoipa::path(get, path = "/api/v1/chatbots/{id}/faqs", operation_id = "listFaqs", tag = "chatbots", security(("bearer" = [])),
    responses((status = 200, body = FaqList), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let bot = owned(&db, *id, &user).await?;
    let items: Vec<FaqResponse> = faqs::of_chatbot(db.get_ref(), bot.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let total = items.len() as u64;
    Ok(HttpResponse::Ok().json(FaqList { items, total }))
}

#[utoipa::path(post, path = "/api/v1/chatbots/{id}/faqs", operation_id = "createFaq", tag = "chatbots", security(("bearer" = [])), request_body = FaqBody,
    responses((status = 201, body = FaqResponse), (status = 404), (status = 422)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn create(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
    body: web::Json<FaqBody>,
) -> Result<HttpResponse, ApiError> {
    let bot = owned(&db, *id, &user).await?;
    let faq = check(body.into_inner())?;
    let count = faqs::Entity::find()
        .filter(faqs::Column::ChatbotId.eq(bot.id))
        .count(db.get_ref())
        .await?;
    if count >= MAX_FAQS_PER_CHATBOT {
        return Err(invalid(
            "chatbot",
            format!("a chatbot holds at most {MAX_FAQS_PER_CHATBOT} FAQs"),
        ));
    }
    let now = Utc::now();
    let model = faqs::ActiveModel {
        id: Set(Uuid::now_v7()),
        chatbot_id: Set(bot.id),
        question: Set(faq.question),
        answer: Set(faq.answer),
        category: Set(faq.category),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db.get_ref())
    .await?;
    Ok(HttpResponse::Created().json(FaqResponse::from(model)))
}

async fn owned_faq(
    db: &DatabaseConnection,
    user: &AuthUser,
    chatbot_id: Uuid,
    faq_id: Uuid,
) -> Result<faqs::Model, ApiError> {
    let bot = owned(db, chatbot_id, user).await?;
    faqs::Entity::find_by_id(faq_id)
        .filter(faqs::Column::ChatbotId.eq(bot.id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("FAQ"))
}

#[utoipa::path(put, path = "/api/v1/chatbots/{id}/faqs/{faq_id}", operation_id = "updateFaq", tag = "chatbots", security(("bearer" = [])), request_body = FaqBody,
    responses((status = 200, body = FaqResponse), (status = 404), (status = 422)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn update(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Json<FaqBody>,
) -> Result<HttpResponse, ApiError> {
    let (chatbot_id, faq_id) = path.into_inner();
    let current = owned_faq(&db, &user, chatbot_id, faq_id).await?;
    let faq = check(body.into_inner())?;
    let mut active = current.into_active_model();
    active.question = Set(faq.question);
    active.answer = Set(faq.answer);
    active.category = Set(faq.category);
    active.updated_at = Set(Utc::now());
    let model = active.update(db.get_ref()).await?;
    Ok(HttpResponse::Ok().json(FaqResponse::from(model)))
}

#[utoipa::path(delete, path = "/api/v1/chatbots/{id}/faqs/{faq_id}", operation_id = "deleteFaq", tag = "chatbots", security(("bearer" = [])),
    responses((status = 204), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn delete(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (chatbot_id, faq_id) = path.into_inner();
    let faq = owned_faq(&db, &user, chatbot_id, faq_id).await?;
    faqs::Entity::delete_by_id(faq.id)
        .exec(db.get_ref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
