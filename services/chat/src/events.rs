//! The conversation events chat emits on `echoflow.events`, as CloudEvents
//! through the outbox: they commit with the messages they announce.

use echoflow_bus::{OutgoingMessage, outbox, topology::EVENTS_EXCHANGE};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, EventType, TriggerEvent};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;
use uuid::Uuid;

pub const SOURCE: &str = "/chat";

/// Who an event is about: the chatbot, its owner and the conversation.
pub struct Conversation {
    pub chatbot_id: Uuid,
    pub owner_id: Uuid,
    pub session_id: Uuid,
}

/// Writes one conversation event to the outbox of the current transaction.
pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    event_type: EventType,
    about: &Conversation,
    data: Value,
) -> Result<(), DbErr> {
    let event = TriggerEvent::builder(SOURCE, event_type)
        .subject(about.session_id)
        .chatbot(about.chatbot_id)
        .user(about.owner_id)
        .data(data)
        .build();
    enqueue(conn, &event).await
}

/// Writes a lifecycle event of a chatbot (deleted, an end user erased) to
/// the outbox of the current transaction; returns its id.
pub async fn emit_lifecycle<C: ConnectionTrait>(
    conn: &C,
    event_type: EventType,
    chatbot_id: Uuid,
    owner_id: Uuid,
    data: Value,
) -> Result<String, DbErr> {
    let event = TriggerEvent::builder(SOURCE, event_type)
        .subject(chatbot_id)
        .chatbot(chatbot_id)
        .user(owner_id)
        .data(data)
        .build();
    enqueue(conn, &event).await?;
    Ok(event.id)
}

async fn enqueue<C: ConnectionTrait>(conn: &C, event: &TriggerEvent) -> Result<(), DbErr> {
    let message = OutgoingMessage::new(
        event.id.clone(),
        &event.r#type,
        CLOUDEVENTS_CONTENT_TYPE,
        event.to_cloudevent_json(),
    );
    outbox::enqueue(conn, EVENTS_EXCHANGE, &message).await
}
