//! The conversation events chat emits on `echoflow.events`, as CloudEvents
//! through the outbox: they commit with the messages they announce.

use echoflow_bus::{OutgoingMessage, outbox, topology::EVENTS_EXCHANGE};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};
use uuid::Uuid;

pub const CONVERSATION_STARTED: &str = "conversation.started";
pub const MESSAGE_RECEIVED: &str = "message.received";
pub const SENTIMENT_ANALYZED: &str = "sentiment.analyzed";
pub const INTENT_DETECTED: &str = "intent.detected";

pub const SOURCE: &str = "/chat";
const CONTENT_TYPE: &str = "application/cloudevents+json";

/// Who an event is about: the chatbot, its owner and the conversation.
pub struct Conversation {
    pub chatbot_id: Uuid,
    pub owner_id: Uuid,
    pub session_id: Uuid,
}

/// The CloudEvent JSON of one conversation event.
pub fn cloud_event(event_type: &str, about: &Conversation, data: Value) -> (Uuid, Value) {
    let id = Uuid::now_v7();
    let event = json!({
        "specversion": "1.0",
        "id": id.to_string(),
        "source": SOURCE,
        "type": event_type,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "subject": about.session_id.to_string(),
        "datacontenttype": "application/json",
        "chatbotid": about.chatbot_id.to_string(),
        "userid": about.owner_id.to_string(),
        "data": data,
    });
    (id, event)
}

/// Writes the event to the outbox of the current transaction.
pub async fn emit<C: ConnectionTrait>(
    conn: &C,
    event_type: &str,
    about: &Conversation,
    data: Value,
) -> Result<(), DbErr> {
    let (id, event) = cloud_event(event_type, about, data);
    let body = serde_json::to_vec(&event).map_err(|e| DbErr::Custom(e.to_string()))?;
    let message = OutgoingMessage::new(id.to_string(), event_type, CONTENT_TYPE, body);
    outbox::enqueue(conn, EVENTS_EXCHANGE, &message).await
}
