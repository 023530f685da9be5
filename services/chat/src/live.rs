//! Live conversation messages for the end user's session streams.
//!
//! Every message committed to a conversation is announced in the same
//! transaction, through the outbox, as a `ConversationMessage` on
//! `echoflow.updates` (routing key `conversation.message`). Every chat
//! replica subscribes with its own exclusive queue (in embedded mode, the
//! in-process bus does the same) and hands each message to the streams it has
//! open on that session, so a message committed by one replica reaches a
//! stream open on another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use echoflow_bus::topology::UPDATES_EXCHANGE;
use echoflow_bus::{
    BusError, Delivery, HandleError, MessageHandler, OutgoingMessage, SharedBus, Subscription,
    outbox,
};
use echoflow_contracts::{
    CONVERSATION_MESSAGE_ROUTING_KEY, ConversationMessage, Message, PROTOBUF_CONTENT_TYPE,
};
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::settings::SessionStreamSettings;
use crate::store::messages;

/// One message as the end user sees it (no sentiment, intent or tags: those are the owner's).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SessionMessage {
    pub id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// `widget` (the end user), `faq`, `llm`, `fallback`, `welcome` or `workflow`.
    pub source: String,
    pub created_at: DateTime<Utc>,
}

impl From<&messages::Model> for SessionMessage {
    fn from(m: &messages::Model) -> Self {
        Self {
            id: m.id,
            role: m.role.clone(),
            content: m.content.clone(),
            source: m.source.clone(),
            created_at: m.created_at,
        }
    }
}

impl SessionMessage {
    /// The message as one server-sent event: `id:` is the message id, `event: message`.
    pub fn to_sse(&self) -> Result<String, serde_json::Error> {
        Ok(format!(
            "id: {}\nevent: message\ndata: {}\n\n",
            self.id,
            serde_json::to_string(self)?
        ))
    }
}

/// Writes the announcement of `m` to the outbox of the transaction that inserts it.
pub async fn announce<C: ConnectionTrait>(conn: &C, m: &messages::Model) -> Result<(), DbErr> {
    let body = ConversationMessage {
        message_id: m.id.to_string(),
        session_id: m.session_id.to_string(),
        chatbot_id: m.chatbot_id.to_string(),
        role: m.role.clone(),
        content: m.content.clone(),
        source: m.source.clone(),
        created_at: m.created_at.to_rfc3339(),
    };
    let message = OutgoingMessage::new(
        m.id.to_string(),
        CONVERSATION_MESSAGE_ROUTING_KEY,
        PROTOBUF_CONTENT_TYPE,
        body.encode_to_vec(),
    );
    outbox::enqueue(conn, UPDATES_EXCHANGE, &message).await
}

/// One message ready for every stream of its session.
#[derive(Debug)]
pub struct LiveMessage {
    pub id: Uuid,
    /// The whole server-sent event, serialised once.
    pub frame: String,
}

struct Slot {
    id: u64,
    sender: mpsc::Sender<Arc<LiveMessage>>,
}

/// The streams this replica has open, by session.
pub struct SessionStreams {
    open: Mutex<HashMap<Uuid, Vec<Slot>>>,
    next_slot: AtomicU64,
    buffer: usize,
    max_per_session: usize,
    /// How often an idle stream sends `: keep-alive`.
    pub keep_alive: Duration,
    /// Cancelled when chat stops: every stream ends then.
    pub stopping: CancellationToken,
}

/// Why a stream could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyStreams(pub usize);

/// An open stream's end of the fan-out; dropping it closes the stream's slot.
pub struct OpenStream {
    hub: Arc<SessionStreams>,
    session_id: Uuid,
    slot: u64,
    pub receiver: mpsc::Receiver<Arc<LiveMessage>>,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.hub.close(self.session_id, self.slot);
    }
}

impl SessionStreams {
    pub fn new(settings: &SessionStreamSettings, stopping: CancellationToken) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            next_slot: AtomicU64::new(1),
            buffer: settings.buffer.max(1),
            max_per_session: settings.max_per_session.max(1),
            keep_alive: Duration::from_secs(settings.keep_alive_secs.max(1)),
            stopping,
        }
    }

    /// Subscribes to the conversation messages of `echoflow.updates` until `stopping`.
    pub async fn subscribe(self: &Arc<Self>, bus: &SharedBus) -> Result<Subscription, BusError> {
        bus.subscribe(
            UPDATES_EXCHANGE,
            CONVERSATION_MESSAGE_ROUTING_KEY,
            self.clone(),
            self.stopping.clone(),
        )
        .await
    }

    /// A new stream of `session_id`: every message dispatched from now on, up to `buffer` waiting.
    pub fn open(self: &Arc<Self>, session_id: Uuid) -> Result<OpenStream, TooManyStreams> {
        let (sender, receiver) = mpsc::channel(self.buffer);
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let slots = open.entry(session_id).or_default();
        if slots.len() >= self.max_per_session {
            return Err(TooManyStreams(self.max_per_session));
        }
        slots.push(Slot { id: slot, sender });
        metrics::gauge!("echoflow_chat_session_streams").increment(1.0);
        Ok(OpenStream {
            hub: self.clone(),
            session_id,
            slot,
            receiver,
        })
    }

    fn close(&self, session_id: Uuid, slot: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slots) = open.get_mut(&session_id) {
            let before = slots.len();
            slots.retain(|s| s.id != slot);
            if slots.len() < before {
                metrics::gauge!("echoflow_chat_session_streams").decrement(1.0);
            }
            if slots.is_empty() {
                open.remove(&session_id);
            }
        }
    }

    /// How many streams of `session_id` are open here.
    pub fn open_streams(&self, session_id: Uuid) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&session_id).map_or(0, Vec::len)
    }

    /// Decodes a ConversationMessage and hands it to the streams of its session. A stream
    /// whose buffer is full loses its slot: it ends, and its client reconnects with
    /// `Last-Event-ID` to read what it missed.
    pub fn accept(&self, body: &[u8]) -> Result<(), String> {
        let m = ConversationMessage::decode(body).map_err(|e| e.to_string())?;
        let session_id = Uuid::parse_str(&m.session_id)
            .map_err(|_| format!("session_id {:?} is not a UUID", m.session_id))?;
        let message = SessionMessage {
            id: Uuid::parse_str(&m.message_id)
                .map_err(|_| format!("message_id {:?} is not a UUID", m.message_id))?,
            role: m.role,
            content: m.content,
            source: m.source,
            created_at: DateTime::parse_from_rfc3339(&m.created_at)
                .map_err(|e| format!("created_at {:?}: {e}", m.created_at))?
                .with_timezone(&Utc),
        };
        let live = Arc::new(LiveMessage {
            id: message.id,
            frame: message.to_sse().map_err(|e| e.to_string())?,
        });
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slots) = open.get_mut(&session_id) else {
            return Ok(());
        };
        slots.retain(|slot| match slot.sender.try_send(live.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(%session_id, "a session stream fell behind; it is closed");
                metrics::gauge!("echoflow_chat_session_streams").decrement(1.0);
                false
            }
            Err(TrySendError::Closed(_)) => {
                metrics::gauge!("echoflow_chat_session_streams").decrement(1.0);
                false
            }
        });
        if slots.is_empty() {
            open.remove(&session_id);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MessageHandler for SessionStreams {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        self.accept(&delivery.body).map_err(|reason| {
            HandleError::Permanent(format!("not a ConversationMessage: {reason}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(buffer: usize, max_per_session: usize) -> Arc<SessionStreams> {
        let settings = SessionStreamSettings {
            keep_alive_secs: 15,
            buffer,
            max_per_session,
        };
        Arc::new(SessionStreams::new(&settings, CancellationToken::new()))
    }

    fn message(session_id: Uuid, content: &str) -> Vec<u8> {
        ConversationMessage {
            message_id: Uuid::now_v7().to_string(),
            session_id: session_id.to_string(),
            chatbot_id: Uuid::new_v4().to_string(),
            role: "assistant".into(),
            content: content.into(),
            source: "workflow".into(),
            created_at: "2026-01-01T10:00:00.123+00:00".into(),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_message_reaches_the_streams_of_its_session_only() {
        let hub = hub(4, 4);
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut a = hub.open(mine).unwrap();
        let mut b = hub.open(mine).unwrap();
        let mut c = hub.open(other).unwrap();
        hub.accept(&message(mine, "hello")).unwrap();
        for stream in [&mut a, &mut b] {
            let live = stream.receiver.try_recv().unwrap();
            assert!(
                live.frame
                    .starts_with(&format!("id: {}\nevent: message\ndata: {{", live.id))
            );
            assert!(
                live.frame.contains("\"content\":\"hello\""),
                "{}",
                live.frame
            );
            assert!(live.frame.ends_with("}\n\n"));
        }
        assert!(c.receiver.try_recv().is_err());
        drop(a);
        assert_eq!(hub.open_streams(mine), 1);
        drop(b);
        assert_eq!(hub.open_streams(mine), 0);
    }

    #[test]
    fn a_full_stream_is_closed_and_the_limit_per_session_holds() {
        let hub = hub(1, 2);
        let session = Uuid::new_v4();
        let mut slow = hub.open(session).unwrap();
        let _second = hub.open(session).unwrap();
        assert_eq!(hub.open(session).err(), Some(TooManyStreams(2)));
        hub.accept(&message(session, "one")).unwrap();
        hub.accept(&message(session, "two")).unwrap();
        // The first message waits; the second found the buffer full and closed the stream.
        assert!(slow.receiver.try_recv().is_ok());
        assert!(matches!(
            slow.receiver.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(hub.open_streams(session), 0);
        assert!(hub.open(session).is_ok());
    }

    #[test]
    fn garbage_is_refused() {
        let hub = hub(1, 1);
        assert!(hub.accept(b"\xff\xff not protobuf").is_err());
        let mut bad = ConversationMessage::decode(message(Uuid::new_v4(), "x").as_slice()).unwrap();
        bad.session_id = "nope".into();
        assert!(hub.accept(&bad.encode_to_vec()).is_err());
    }
}
