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
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let bus = bus.clone();
    let handler = Arc::new(Forward(tx));
    let consumer_stop = stop.clone();
    tokio::spawn(async move {
        bus.consume(
            topology::REGISTRY_TRIGGER_EVENTS,
            16,
            handler,
            consumer_stop,
        )
        .await
    });
    Events { rx, stop }
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

/// The CloudEvents published, in order; the collection stops on drop.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Delivery>,
    stop: CancellationToken,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Events {
    /// The next event as CloudEvent JSON, checked against its envelope.
    pub async fn next(&mut self) -> Value {
        let delivery = tokio::time::timeout(DEADLINE, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event within {DEADLINE:?}"))
            .expect("consumer stopped");
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
        if let Ok(Some(delivery)) = tokio::time::timeout(QUIET, self.rx.recv()).await {
            panic!(
                "unexpected event {}: {}",
                delivery.routing_key,
                String::from_utf8_lossy(&delivery.body)
            );
        }
    }
}
