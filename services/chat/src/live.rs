//! Live conversation messages for the end user's session streams.
//!
//! Every message committed to a conversation is announced in the same
//! transaction, through the outbox, as a `ConversationMessage` on
//! `echoflow.updates` (routing key `conversation.message`). Every chat
//! replica subscribes with its own exclusive queue (in embedded mode, the
//! in-process bus does the same) and hands each message to the streams it has
//! open on that session, so a message committed by one replica reaches a
//! stream open on another.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// What a stream was opened on: the conversation, and the chatbot with the
/// hash of the key that proved it. While the chatbot still holds that key
/// and the conversation still exists, the stream may go on (see [`crate::stream_guard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGrant {
    pub session_id: Uuid,
    pub chatbot_id: Uuid,
    pub key_hash: String,
}

struct Slot {
    id: u64,
    grant: StreamGrant,
    sender: mpsc::Sender<Arc<LiveMessage>>,
    revoked: CancellationToken,
}

/// The streams this replica has open, by session.
pub struct SessionStreams {
    open: Mutex<HashMap<Uuid, Vec<Slot>>>,
    /// Streams open on this replica (all sessions); changed under `open`'s lock.
    total: AtomicUsize,
    next_slot: AtomicU64,
    buffer: usize,
    max_per_session: usize,
    max_open: usize,
    /// How often an idle stream sends `: keep-alive`.
    pub keep_alive: Duration,
    /// Cancelled when chat stops: every stream ends then.
    pub stopping: CancellationToken,
}

/// Why a stream could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum TooManyStreams {
    /// `max_per_session` streams are open on the conversation here.
    OnSession(usize),
    /// `max_open` streams are open on this replica.
    OnReplica(usize),
}

/// An open stream's end of the fan-out; dropping it closes the stream's slot.
pub struct OpenStream {
    hub: Arc<SessionStreams>,
    session_id: Uuid,
    slot: u64,
    pub receiver: mpsc::Receiver<Arc<LiveMessage>>,
    /// Cancelled when the stream's grant is gone (key rotated, chatbot
    /// deleted, conversation erased): the stream ends.
    pub revoked: CancellationToken,
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
            max_open: settings.max_open.max(1),
            total: AtomicUsize::new(0),
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

    /// A new stream on `grant`: every message of its session dispatched from now on,
    /// up to `buffer` waiting.
    pub fn open(self: &Arc<Self>, grant: StreamGrant) -> Result<OpenStream, TooManyStreams> {
        let (sender, receiver) = mpsc::channel(self.buffer);
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let revoked = CancellationToken::new();
        let session_id = grant.session_id;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if self.total.load(Ordering::Relaxed) >= self.max_open {
            return Err(TooManyStreams::OnReplica(self.max_open));
        }
        let slots = open.entry(session_id).or_default();
        if slots.len() >= self.max_per_session {
            return Err(TooManyStreams::OnSession(self.max_per_session));
        }
        slots.push(Slot {
            id: slot,
            grant,
            sender,
            revoked: revoked.clone(),
        });
        self.total.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("echoflow_chat_session_streams").increment(1.0);
        Ok(OpenStream {
            hub: self.clone(),
            session_id,
            slot,
            receiver,
            revoked,
        })
    }

    /// Counts one slot gone; called under `open`'s lock.
    fn released(&self) {
        self.total.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("echoflow_chat_session_streams").decrement(1.0);
    }

    fn close(&self, session_id: Uuid, slot: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slots) = open.get_mut(&session_id) {
            let before = slots.len();
            slots.retain(|s| s.id != slot);
            if slots.len() < before {
                self.released();
            }
            if slots.is_empty() {
                open.remove(&session_id);
            }
        }
    }

    /// Streams open on this replica, all sessions.
    pub fn open_total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// The grants of the streams open now, by slot.
    pub fn grants(&self) -> Vec<(u64, StreamGrant)> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.values()
            .flatten()
            .map(|slot| (slot.id, slot.grant.clone()))
            .collect()
    }

    /// Ends the streams of `slots` (ids from [`Self::grants`]): each sends its
    /// closing comment and ends. Returns how many were still open.
    pub fn revoke(&self, slots: &HashSet<u64>) -> usize {
        let mut revoked = 0;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, session_slots| {
            session_slots.retain(|slot| {
                if !slots.contains(&slot.id) {
                    return true;
                }
                slot.revoked.cancel();
                revoked += 1;
                self.released();
                false
            });
            !session_slots.is_empty()
        });
        revoked
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
                self.released();
                false
            }
            Err(TrySendError::Closed(_)) => {
                self.released();
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
        hub_of(buffer, max_per_session, 100)
    }

    fn hub_of(buffer: usize, max_per_session: usize, max_open: usize) -> Arc<SessionStreams> {
        let settings = SessionStreamSettings {
            buffer,
            max_per_session,
            max_open,
            ..SessionStreamSettings::default()
        };
        Arc::new(SessionStreams::new(&settings, CancellationToken::new()))
    }

    fn on(session_id: Uuid) -> StreamGrant {
        StreamGrant {
            session_id,
            chatbot_id: Uuid::nil(),
            key_hash: "hash".into(),
        }
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
        let mut a = hub.open(on(mine)).unwrap();
        let mut b = hub.open(on(mine)).unwrap();
        let mut c = hub.open(on(other)).unwrap();
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
        let mut slow = hub.open(on(session)).unwrap();
        let _second = hub.open(on(session)).unwrap();
        assert_eq!(
            hub.open(on(session)).err(),
            Some(TooManyStreams::OnSession(2))
        );
        hub.accept(&message(session, "one")).unwrap();
        hub.accept(&message(session, "two")).unwrap();
        // The first message waits; the second found the buffer full and closed the stream.
        assert!(slow.receiver.try_recv().is_ok());
        assert!(matches!(
            slow.receiver.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(hub.open_streams(session), 0);
        assert!(hub.open(on(session)).is_ok());
    }

    #[test]
    fn the_limit_per_replica_holds_across_sessions_and_frees_with_a_closed_stream() {
        let hub = hub_of(4, 4, 2);
        let first = hub.open(on(Uuid::new_v4())).unwrap();
        let _second = hub.open(on(Uuid::new_v4())).unwrap();
        assert_eq!(
            hub.open(on(Uuid::new_v4())).err(),
            Some(TooManyStreams::OnReplica(2))
        );
        assert_eq!(hub.open_total(), 2);
        drop(first);
        assert_eq!(hub.open_total(), 1);
        assert!(hub.open(on(Uuid::new_v4())).is_ok());
    }

    #[test]
    fn a_revoked_stream_is_told_and_its_slot_freed_and_the_others_stay() {
        let hub = hub(4, 4);
        let session = Uuid::new_v4();
        let gone = hub.open(on(session)).unwrap();
        let mut kept = hub.open(on(session)).unwrap();
        let (slot, grant) = hub
            .grants()
            .into_iter()
            .find(|(slot, _)| *slot == gone.slot)
            .unwrap();
        assert_eq!(grant, on(session));
        assert_eq!(hub.revoke(&HashSet::from([slot])), 1);
        assert!(gone.revoked.is_cancelled());
        assert!(!kept.revoked.is_cancelled());
        assert_eq!((hub.open_streams(session), hub.open_total()), (1, 1));
        hub.accept(&message(session, "still here")).unwrap();
        assert!(kept.receiver.try_recv().is_ok());
        // Dropping the revoked stream later does not count it twice.
        drop(gone);
        assert_eq!(hub.open_total(), 1);
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
