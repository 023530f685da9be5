//! A chatbot's intents: list, add, remove.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use echoflow_service_kit::{ApiError, AuthUser, ErrorCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::chatbots::owned;
use super::{invalid, required_text};
use crate::store::{intents, is_unique_violation};

const MAX_EXAMPLES: usize = 100;

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"name": "order_status", "examples": ["where is my order", "track my package"]}))]
pub struct IntentBody {
    /// Letters, digits, `_`, `-` and `.`; unique per chatbot.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[A-Za-z0-9_.-]+$")]
    pub name: String,
    /// Example phrases of the intent.
    #[schema(min_items = 1, max_items = 100)]
    pub examples: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IntentResponse {
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub name: String,
    pub examples: Vec<String>,
    pub created_at: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct IntentList {
    pub items: Vec<IntentResponse>,
    pub total: u64,
}

impl From<intents::Model> for IntentResponse {
    fn from(m: intents::Model) -> Self {
        Self {
            id: m.id,
            chatbot_id: m.chatbot_id,
            examples: m.example_list(),
            name: m.name,
            created_at: m.created_at,
        }
    }
}

fn check(body: IntentBody) -> Result<(String, Vec<String>), ApiError> {
    let name = required_text("name", &body.name, 100)?;
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(invalid(
            "name",
            "may hold only letters, digits, '_', '-' and '.'",
        ));
    }
    if body.examples.is_empty() || body.examples.len() > MAX_EXAMPLES {
        return Err(invalid(
            "examples",
            format!("must hold 1 to {MAX_EXAMPLES} phrases"),
        ));
    }
    let examples = body
        .examples
        .iter()
        .enumerate()
        .map(|(i, e)| required_text(&format!("examples[{i}]"), e, 500))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name, examples))
}

#[utoipa::path(get, path = "/api/v1/chatbots/{id}/intents", operation_id = "listIntents", tag = "chatbots", security(("bearer" = [])),
    responses((status = 200, body = IntentList), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let bot = owned(&db, *id, &user).await?;
    let items: Vec<IntentResponse> = intents::of_chatbot(db.get_ref(), bot.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let total = items.len() as u64;
    Ok(HttpResponse::Ok().json(IntentList { items, total }))
}

#[utoipa::path(post, path = "/api/v1/chatbots/{id}/intents", operation_id = "createIntent", tag = "chatbots", security(("bearer" = [])), request_body = IntentBody,
    responses((status = 201, body = IntentResponse), (status = 404), (status = 409, description = "an intent of that name exists"), (status = 422)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn create(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    id: web::Path<Uuid>,
    body: web::Json<IntentBody>,
) -> Result<HttpResponse, ApiError> {
    let bot = owned(&db, *id, &user).await?;
    let (name, examples) = check(body.into_inner())?;
    let inserted = intents::ActiveModel {
        id: Set(Uuid::now_v7()),
        chatbot_id: Set(bot.id),
        name: Set(name.clone()),
        examples: Set(json!(examples)),
        created_at: Set(Utc::now()),
    }
    .insert(db.get_ref())
    .await;
    match inserted {
        Ok(model) => Ok(HttpResponse::Created().json(IntentResponse::from(model))),
        Err(e) if is_unique_violation(&e) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the chatbot already has an intent named '{name}'"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(delete, path = "/api/v1/chatbots/{id}/intents/{intent_id}", operation_id = "deleteIntent", tag = "chatbots", security(("bearer" = [])),
    responses((status = 204), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn delete(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (chatbot_id, intent_id) = path.into_inner();
    let bot = owned(&db, chatbot_id, &user).await?;
    let deleted = intents::Entity::delete_many()
        .filter(intents::Column::Id.eq(intent_id))
        .filter(intents::Column::ChatbotId.eq(bot.id))
        .exec(db.get_ref())
        .await?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::not_found("intent"));
    }
    Ok(HttpResponse::NoContent().finish())
}
