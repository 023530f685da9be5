//! The end of a chatbot's data in chat: deleting a chatbot with everything
//! it holds, and erasing one end user's data (GDPR). Each runs in the
//! caller's transaction together with the lifecycle event that tells the
//! other services to do the same with their slice (the outbox), so neither
//! the deletion nor its announcement can happen without the other.

use echoflow_contracts::EventType;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::events;
use crate::store::{chatbots, external_users, faqs, intents, messages, sessions, tags};

/// Deletes the chatbot and everything chat holds of it (FAQs, intents, end
/// users, conversations, their messages and tags), children first, then
/// emits `chatbot.deleted`. Policy: conversations go with their chatbot.
#[tracing::instrument(skip_all, fields(chatbot_id = %bot.id))]
pub async fn delete_chatbot<C: ConnectionTrait>(
    txn: &C,
    bot: &chatbots::Model,
) -> Result<(), DbErr> {
    let of_bot = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::ChatbotId.eq(bot.id))
        .into_query();
    tags::Entity::delete_many()
        .filter(tags::Column::SessionId.in_subquery(of_bot))
        .exec(txn)
        .await?;
    messages::Entity::delete_many()
        .filter(messages::Column::ChatbotId.eq(bot.id))
        .exec(txn)
        .await?;
    sessions::Entity::delete_many()
        .filter(sessions::Column::ChatbotId.eq(bot.id))
        .exec(txn)
        .await?;
    external_users::Entity::delete_many()
        .filter(external_users::Column::ChatbotId.eq(bot.id))
        .exec(txn)
        .await?;
    faqs::Entity::delete_many()
        .filter(faqs::Column::ChatbotId.eq(bot.id))
        .exec(txn)
        .await?;
    intents::Entity::delete_many()
        .filter(intents::Column::ChatbotId.eq(bot.id))
        .exec(txn)
        .await?;
    chatbots::Entity::delete_by_id(bot.id).exec(txn).await?;
    events::emit_lifecycle(
        txn,
        EventType::ChatbotDeleted,
        bot.id,
        bot.owner_id,
        json!({"chatbot_id": bot.id, "name": bot.name}),
    )
    .await?;
    Ok(())
}

/// What chat erased of one end user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatErased {
    /// Their conversations (sessions), deleted.
    pub conversations: u64,
    /// The messages of those conversations (theirs and the replies), deleted.
    pub messages: u64,
    /// Tags set on those conversations, deleted.
    pub tags: u64,
    /// Whether the end user's record (their email) was deleted.
    pub end_user: bool,
}

/// Erases the end user `email` (normalised) of `bot`: every conversation
/// that carries their email or their end-user record, with its messages and
/// tags, and the record itself; then emits `chatbot.end_user_erased` with
/// the email and the erased conversations' ids, for the other services.
/// Emitted on every call, so a repeat also reaches what arrived meanwhile.
#[tracing::instrument(skip_all, fields(chatbot_id = %bot.id))]
pub async fn erase_end_user<C: ConnectionTrait>(
    txn: &C,
    bot: &chatbots::Model,
    email: &str,
) -> Result<(ChatErased, String), DbErr> {
    let user = external_users::Entity::find()
        .filter(external_users::Column::ChatbotId.eq(bot.id))
        .filter(external_users::Column::Email.eq(email))
        .one(txn)
        .await?;
    let mut theirs = Condition::any().add(sessions::Column::UserEmail.eq(email));
    if let Some(user) = &user {
        theirs = theirs.add(sessions::Column::ExternalUserId.eq(user.id));
    }
    let session_ids: Vec<Uuid> = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::ChatbotId.eq(bot.id))
        .filter(theirs)
        .into_tuple()
        .all(txn)
        .await?;
    let mut erased = ChatErased {
        conversations: 0,
        messages: 0,
        tags: 0,
        end_user: false,
    };
    // In chunks, to stay under the databases' bound-parameter limits.
    for chunk in session_ids.chunks(500) {
        erased.tags += tags::Entity::delete_many()
            .filter(tags::Column::SessionId.is_in(chunk.to_vec()))
            .exec(txn)
            .await?
            .rows_affected;
        erased.messages += messages::Entity::delete_many()
            .filter(messages::Column::SessionId.is_in(chunk.to_vec()))
            .exec(txn)
            .await?
            .rows_affected;
        erased.conversations += sessions::Entity::delete_many()
            .filter(sessions::Column::Id.is_in(chunk.to_vec()))
            .exec(txn)
            .await?
            .rows_affected;
    }
    if let Some(user) = user {
        erased.end_user = external_users::Entity::delete_by_id(user.id)
            .exec(txn)
            .await?
            .rows_affected
            == 1;
    }
    let event_id = events::emit_lifecycle(
        txn,
        EventType::EndUserErased,
        bot.id,
        bot.owner_id,
        json!({"chatbot_id": bot.id, "email": email, "session_ids": session_ids}),
    )
    .await?;
    Ok((erased, event_id))
}
