//! `DELETE /api/v1/chatbots/{id}/end-users/{email}`: erasing one end user's
//! data (GDPR) across every slice that holds it. Chat erases its own at once
//! and announces the erasure (`chatbot.end_user_erased`) for the rest.

use actix_web::{HttpResponse, web};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::chat::{ChatContext, normalise_email};
use super::invalid;
use crate::lifecycle::{self, ChatErased};
use crate::store::chatbots;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndUserPath {
    /// The chatbot.
    pub id: Uuid,
    /// The end user's email (any case; percent-encode `@` as `%40` if your client requires it).
    #[param(format = Email, max_length = 254, example = "ann@example.com")]
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct EndUserErased {
    pub chatbot_id: Uuid,
    /// The email as it was matched (lower case).
    #[schema(format = Email)]
    pub email: String,
    /// What chat erased now; 0 and false on a repeat.
    pub chat: ChatErased,
    /// The id of the `chatbot.end_user_erased` event the other services
    /// act on (the executor erases the payloads of the executions this end
    /// user's conversations started; the registry records the audit entry).
    pub event_id: String,
}

/// Erase an end user's data (GDPR): their conversations, messages, tags and
/// end-user record in chat at once; then, through `chatbot.end_user_erased`,
/// the trigger data and step payloads of the executions their conversations
/// started. Idempotent: a repeat erases what is left and answers zeros.
#[utoipa::path(delete, path = "/api/v1/chatbots/{id}/end-users/{email}", tag = "chatbots",
    operation_id = "eraseChatbotEndUser", params(EndUserPath), security(("bearer" = [])),
    responses((status = 200, body = EndUserErased, description = "erased in chat; the other services follow within seconds"),
        (status = 401, description = "no valid token"),
        (status = 404, description = "not one of the caller's chatbots"),
        (status = 422, description = "not an email address")))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn erase(
    user: AuthUser,
    db: web::Data<DatabaseConnection>,
    ctx: web::Data<ChatContext>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, raw) = path.into_inner();
    let email = normalise_email(Some(raw.as_str()))
        .map_err(|_| invalid("email", "is not an email address"))
        .and_then(|e| e.ok_or_else(|| invalid("email", "must not be empty")));
    let txn = echoflow_service_kit::db::begin_writer(db.get_ref()).await?;
    // Another owner's chatbot is 404 whatever the email.
    let bot = chatbots::find_owned(&txn, id, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("chatbot"))?;
    let email = email?;
    let (chat, event_id) = lifecycle::erase_end_user(&txn, &bot, &email).await?;
    txn.commit().await?;
    ctx.relay.notify();
    tracing::info!(chatbot_id = %bot.id, conversations = chat.conversations, "end user erased");
    Ok(HttpResponse::Ok().json(EndUserErased {
        chatbot_id: bot.id,
        email,
        chat,
        event_id,
    }))
}
