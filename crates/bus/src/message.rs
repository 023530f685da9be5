//! What a publisher hands to the bus and what a consumer receives from it.

use std::collections::BTreeMap;

/// Header carrying the reason a handler gave for a permanent failure.
pub const REASON_HEADER: &str = "x-echoflow-reason";
/// Header carrying the exchange a dead-lettered message was first published to.
pub const ORIGINAL_EXCHANGE_HEADER: &str = "x-original-exchange";
/// Header carrying the routing key a dead-lettered message was first published with.
pub const ORIGINAL_ROUTING_KEY_HEADER: &str = "x-original-routing-key";
/// Header carrying the queue a dead-lettered message was consumed from.
pub const ORIGINAL_QUEUE_HEADER: &str = "x-original-queue";

/// A message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Unique id; consumers deduplicate by it.
    pub message_id: String,
    pub routing_key: String,
    pub content_type: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl OutgoingMessage {
    pub fn new(
        message_id: impl Into<String>,
        routing_key: impl Into<String>,
        content_type: impl Into<String>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            message_id: message_id.into(),
            routing_key: routing_key.into(),
            content_type: content_type.into(),
            headers: BTreeMap::new(),
            body,
        }
    }

    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }
}

/// A message handed to a [`MessageHandler`].
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: String,
    pub exchange: String,
    pub routing_key: String,
    pub content_type: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The broker delivered this message before (to this or another consumer).
    pub redelivered: bool,
}

/// How a handler failed, which decides what happens to the message.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Requeued and redelivered later (until the queue's delivery limit dead-letters it).
    #[error("transient: {0}")]
    Transient(anyhow::Error),
    /// Dead-lettered at once with this reason.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Processes one delivery; the bus acks, requeues or dead-letters it by the result.
#[async_trait::async_trait]
pub trait MessageHandler: Send + Sync + 'static {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError>;
}

/// The headers of a message dead-lettered by a handler's permanent failure.
pub(crate) fn dead_letter_headers(
    mut headers: BTreeMap<String, String>,
    reason: &str,
    exchange: &str,
    routing_key: &str,
    queue: &str,
) -> BTreeMap<String, String> {
    headers.insert(REASON_HEADER.to_owned(), reason.to_owned());
    headers.insert(ORIGINAL_EXCHANGE_HEADER.to_owned(), exchange.to_owned());
    headers.insert(
        ORIGINAL_ROUTING_KEY_HEADER.to_owned(),
        routing_key.to_owned(),
    );
    headers.insert(ORIGINAL_QUEUE_HEADER.to_owned(), queue.to_owned());
    headers
}

/// Runs the handler, turning a panic into a permanent failure so one bad message
/// cannot take the consumer down or loop forever.
pub(crate) async fn run_handler(
    handler: &dyn MessageHandler,
    delivery: Delivery,
) -> Result<(), HandleError> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handler.handle(delivery))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(HandleError::Permanent(format!("handler panicked: {what}")))
        }
    }
}
