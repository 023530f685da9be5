//! The message bus every echoflow service talks through: RabbitMQ, or an in-process bus in embedded mode.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod dedupe;
mod error;
mod in_process;
mod message;
pub mod outbox;
mod rabbit;
mod subscription;
pub mod topology;
mod trace;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use error::BusError;
pub use in_process::InProcessBus;
pub use message::{
    Delivery, HandleError, MessageHandler, ORIGINAL_EXCHANGE_HEADER, ORIGINAL_QUEUE_HEADER,
    ORIGINAL_ROUTING_KEY_HEADER, OutgoingMessage, REASON_HEADER,
};
pub use rabbit::RabbitBus;
pub use subscription::Subscription;

/// Publish and consume, whatever carries the messages.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Returns only after the broker confirmed the message (publisher confirms); persistent delivery mode.
    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<(), BusError>;

    /// Consumes `queue` until `shutdown` is cancelled, running up to `prefetch` handlers at once.
    ///
    /// `Ok(())` from the handler acks; `Transient` requeues after a short pause; `Permanent(reason)`
    /// republishes the message to [`topology::DEAD_LETTER_EXCHANGE`] (routing key = queue name, with
    /// the reason and original exchange/routing key/queue in headers) and then acks it.
    /// Reconnects on its own when the broker goes away; returns `Ok(())` on shutdown once the
    /// in-flight handlers finished.
    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<(), BusError>;

    /// Subscribes to `exchange` for live fan-out: every message published to it after this returns,
    /// whose routing key matches the topic pattern `binding_key`, is handed to `handler`, one at a
    /// time and in the order the bus received them, until `shutdown` is cancelled or the returned
    /// [`Subscription`] is stopped or dropped.
    ///
    /// Unlike [`Bus::consume`] nothing is stored for the subscriber: on RabbitMQ each subscription
    /// has its own server-named, exclusive, auto-delete queue, consumed without acknowledgements,
    /// so messages published while it reconnects or after it stopped are lost to it. Use it for
    /// progress a client can afford to miss, never for state. A handler's error is logged and the
    /// message dropped. Handlers should be quick: deliveries wait behind a slow one.
    ///
    /// Returns once the binding is in place, so the caller knows from when on it sees messages;
    /// `ExchangeNotFound` when the exchange does not exist. Reconnects on its own afterwards.
    async fn subscribe(
        &self,
        exchange: &str,
        binding_key: &str,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<Subscription, BusError>;

    /// Cheap reachability check for `/readyz`.
    async fn health(&self) -> Result<(), BusError>;
}

/// The bus as services hold it.
pub type SharedBus = Arc<dyn Bus>;

/// How long a transiently failed message waits before it is requeued, so it does not spin.
pub(crate) const TRANSIENT_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Exponential backoff between reconnect or retry attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: std::time::Duration,
}

impl Backoff {
    const MIN: std::time::Duration = std::time::Duration::from_millis(100);
    const MAX: std::time::Duration = std::time::Duration::from_secs(5);

    pub(crate) fn new() -> Self {
        Self { next: Self::MIN }
    }

    pub(crate) fn next_delay(&mut self) -> std::time::Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_five_seconds_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[6], Duration::from_secs(5));
        assert_eq!(delays[7], Duration::from_secs(5));
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}
