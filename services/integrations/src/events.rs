//! The events integrations emits on `echoflow.events`, as CloudEvents
//! through the outbox: they commit with the state change they announce.

use echoflow_bus::{OutgoingMessage, outbox, topology::EVENTS_EXCHANGE};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// A connection's grant was revoked or expired: it answers 409 until the
/// user connects again. A workflow can react (e.g. tell the owner).
pub const NEEDS_RECONNECT: &str = "integration.needs_reconnect";

pub const SOURCE: &str = "/integrations";
const CONTENT_TYPE: &str = "application/cloudevents+json";

/// What a provider call was made for: the workflow run that caused it, when
/// it came from the executor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    pub chatbot_id: Option<Uuid>,
    pub execution_id: Option<Uuid>,
}

/// The CloudEvent JSON of `integration.needs_reconnect`.
pub fn needs_reconnect_event(
    connection_id: Uuid,
    owner_id: Uuid,
    provider: &str,
    reason: &str,
    origin: Origin,
) -> (Uuid, Value) {
    let id = Uuid::now_v7();
    let mut event = Map::new();
    event.insert("specversion".into(), json!("1.0"));
    event.insert("id".into(), json!(id.to_string()));
    event.insert("source".into(), json!(SOURCE));
    event.insert("type".into(), json!(NEEDS_RECONNECT));
    event.insert(
        "time".into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    event.insert("subject".into(), json!(connection_id.to_string()));
    event.insert("datacontenttype".into(), json!("application/json"));
    if let Some(chatbot) = origin.chatbot_id {
        event.insert("chatbotid".into(), json!(chatbot.to_string()));
    }
    event.insert("userid".into(), json!(owner_id.to_string()));
    event.insert(
        "data".into(),
        json!({
            "connection_id": connection_id,
            "provider": provider,
            "reason": reason,
            "execution_id": origin.execution_id,
        }),
    );
    (id, Value::Object(event))
}

/// Writes `integration.needs_reconnect` to the outbox of the current transaction.
pub async fn emit_needs_reconnect<C: ConnectionTrait>(
    conn: &C,
    connection_id: Uuid,
    owner_id: Uuid,
    provider: &str,
    reason: &str,
    origin: Origin,
) -> Result<(), DbErr> {
    let (id, event) = needs_reconnect_event(connection_id, owner_id, provider, reason, origin);
    let body = serde_json::to_vec(&event).map_err(|e| DbErr::Custom(e.to_string()))?;
    let message = OutgoingMessage::new(id.to_string(), NEEDS_RECONNECT, CONTENT_TYPE, body);
    outbox::enqueue(conn, EVENTS_EXCHANGE, &message).await
}
