//! What a service under test publishes on `echoflow.events`, for the service
//! API tests that run it on the in-process bus (which binds the registry's
//! queue to every event).

use echoflow_bus::{Delivery, HandleError, MessageHandler, SharedBus, topology};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long [`Events::next`] waits for an event.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// How long [`Events::assert_none`] listens.
pub const QUIET: Duration = Duration::from_millis(600);

/// Starts collecting the events published on `bus` from now on.
pub fn collect(bus: &SharedBus) -> Events {
    Events(consume(bus, topology::REGISTRY_TRIGGER_EVENTS))
}

/// Starts consuming `queue` on `bus`; what arrives comes out of the
/// returned [`Deliveries`], each acked. The consumer stops on drop.
pub fn consume(bus: &SharedBus, queue: &'static str) -> Deliveries {
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let bus = bus.clone();
    let handler = Arc::new(Forward(tx));
    let consumer_stop = stop.clone();
    tokio::spawn(async move { bus.consume(queue, 16, handler, consumer_stop).await });
    Deliveries { rx, stop }
}

/// A handler that forwards every delivery into a channel and acks it.
struct Forward(mpsc::UnboundedSender<Delivery>);

#[async_trait::async_trait]
impl MessageHandler for Forward {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let _ = self.0.send(delivery);
        Ok(())
    }
}

/// What a test consumer received from one queue, in order.
pub struct Deliveries {
    rx: mpsc::UnboundedReceiver<Delivery>,
    stop: CancellationToken,
}

impl Drop for Deliveries {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Deliveries {
    /// The next delivery, failing the test after `deadline`.
    pub async fn next_within(&mut self, deadline: Duration) -> Delivery {
        tokio::time::timeout(deadline, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no delivery within {deadline:?}"))
            .expect("consumer stopped")
    }

    /// The next delivery if one comes within `quiet`.
    pub async fn try_next_within(&mut self, quiet: Duration) -> Option<Delivery> {
        tokio::time::timeout(quiet, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

/// The CloudEvents published, in order; the collection stops on drop.
pub struct Events(Deliveries);

impl Events {
    /// The next event as CloudEvent JSON, checked against its envelope.
    pub async fn next(&mut self) -> Value {
        let delivery = self.0.next_within(DEADLINE).await;
        assert_eq!(delivery.exchange, topology::EVENTS_EXCHANGE);
        let event: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(
            delivery.routing_key, event["type"],
            "routing key of {event}"
        );
        assert_eq!(delivery.message_id, event["id"], "message id of {event}");
        event
    }

    /// The next `n` events.
    pub async fn take(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next().await);
        }
        events
    }

    /// Asserts nothing more arrives within [`QUIET`].
    pub async fn assert_none(&mut self) {
        if let Some(delivery) = self.0.try_next_within(QUIET).await {
            panic!(
                "unexpected event {}: {}",
                delivery.routing_key,
                String::from_utf8_lossy(&delivery.body)
            );
        }
    }
}
