//! The events integrations emits on `echoflow.events`, as CloudEvents
//! through the outbox: they commit with the state change they announce.

use echoflow_bus::{OutgoingMessage, outbox, topology::EVENTS_EXCHANGE};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, EventType, TriggerEvent};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::json;
use uuid::Uuid;

pub const SOURCE: &str = "/integrations";

/// What a provider call was made for: the workflow run that caused it, when
/// it came from the executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    pub chatbot_id: Option<Uuid>,
    pub execution_id: Option<Uuid>,
}

/// Writes `integration.needs_reconnect` to the outbox of the current
/// transaction: a connection's grant was revoked or expired, and it answers
/// 409 until the user connects again. A workflow can react (e.g. tell the owner).
pub async fn emit_needs_reconnect<C: ConnectionTrait>(
    conn: &C,
    connection_id: Uuid,
    owner_id: Uuid,
    provider: &str,
    reason: &str,
    origin: Origin,
) -> Result<(), DbErr> {
    let event = TriggerEvent::builder(SOURCE, EventType::IntegrationNeedsReconnect)
        .subject(connection_id)
        .chatbot(origin.chatbot_id)
        .user(owner_id)
        .data(json!({
            "connection_id": connection_id,
            "provider": provider,
            "reason": reason,
            "execution_id": origin.execution_id,
        }))
        .build();
    let message = OutgoingMessage::new(
        event.id.clone(),
        &event.r#type,
        CLOUDEVENTS_CONTENT_TYPE,
        event.to_cloudevent_json(),
    );
    outbox::enqueue(conn, EVENTS_EXCHANGE, &message).await
}
