//! The bus inside one process (embedded mode): the same topology and semantics as RabbitMQ, in memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::message::{dead_letter_headers, run_handler};
use crate::subscription::deliver;
use crate::topology::{
    DEAD_LETTER_EXCHANGE, DELIVERY_LIMIT, EXCHANGES, QUEUES, QueueSpec, topic_matches,
};
use crate::{
    Bus, BusError, Delivery, HandleError, MessageHandler, OutgoingMessage, Subscription,
    TRANSIENT_RETRY_PAUSE, trace,
};

/// How many messages a live subscriber may fall behind before newer ones are dropped for it.
const SUBSCRIBER_BUFFER: usize = 4096;

/// The in-memory bus. Messages live as long as the bus; nothing is persisted.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus").finish_non_exhaustive()
    }
}

struct Inner {
    queues: HashMap<&'static str, Arc<Queue>>,
    subscribers: Mutex<Vec<Subscriber>>,
    next_subscriber: AtomicU64,
}

/// A live subscription: gets a copy of each matching message while it runs, nothing is kept for it.
struct Subscriber {
    id: u64,
    exchange: String,
    binding_key: String,
    sender: mpsc::Sender<Delivery>,
}

/// Removes its subscriber from the bus when the subscription's task ends, however it ends.
struct Unsubscribe {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.inner
            .subscribers()
            .retain(|subscriber| subscriber.id != self.id);
    }
}

struct Queue {
    spec: QueueSpec,
    messages: Mutex<VecDeque<Envelope>>,
    ready: Notify,
}

/// A message waiting in a queue.
struct Envelope {
    exchange: String,
    message: OutgoingMessage,
    redelivered: bool,
    deliveries: u32,
}

impl InProcessBus {
    pub fn new() -> Self {
        let queues = QUEUES
            .into_iter()
            .map(|spec| {
                let queue = Queue {
                    spec,
                    messages: Mutex::new(VecDeque::new()),
                    ready: Notify::new(),
                };
                (spec.name, Arc::new(queue))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                queues,
                subscribers: Mutex::new(Vec::new()),
                next_subscriber: AtomicU64::new(0),
            }),
        }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, exchange: &str, mut message: OutgoingMessage) -> Result<(), BusError> {
        trace::inject_current(&mut message.headers);
        self.inner.route(exchange, message)
    }

    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let queue = self
            .inner
            .queues
            .get(queue)
            .cloned()
            .ok_or_else(|| BusError::QueueNotFound(queue.to_owned()))?;
        let permits = Arc::new(Semaphore::new(usize::from(prefetch.max(1))));
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit.map_err(|_| BusError::Closed)?,
            };
            let envelope = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                envelope = queue.pop() => envelope,
            };
            in_flight.spawn(handle(
                self.inner.clone(),
                queue.clone(),
                handler.clone(),
                envelope,
                permit,
            ));
        }
        while in_flight.join_next().await.is_some() {}
        Ok(())
    }

    async fn subscribe(
        &self,
        exchange: &str,
        binding_key: &str,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<Subscription, BusError> {
        if !EXCHANGES.contains(&exchange) {
            return Err(BusError::ExchangeNotFound(exchange.to_owned()));
        }
        let (sender, mut receiver) = mpsc::channel(SUBSCRIBER_BUFFER);
        let id = self.inner.next_subscriber.fetch_add(1, Ordering::Relaxed);
        self.inner.subscribers().push(Subscriber {
            id,
            exchange: exchange.to_owned(),
            binding_key: binding_key.to_owned(),
            sender,
        });
        let unsubscribe = Unsubscribe {
            inner: self.inner.clone(),
            id,
        };
        let shutdown = shutdown.child_token();
        let stopped = shutdown.clone();
        Ok(Subscription::spawn(shutdown, async move {
            let _unsubscribe = unsubscribe;
            loop {
                let delivery = tokio::select! {
                    biased;
                    () = stopped.cancelled() => break,
                    delivery = receiver.recv() => match delivery {
                        Some(delivery) => delivery,
                        None => break,
                    },
                };
                deliver(handler.as_ref(), delivery).await;
            }
        }))
    }

    async fn health(&self) -> Result<(), BusError> {
        Ok(())
    }
}

impl Inner {
    /// Enqueues `message` on every queue whose binding matches; unroutable messages are dropped, as AMQP does.
    fn route(&self, exchange: &str, message: OutgoingMessage) -> Result<(), BusError> {
        if !EXCHANGES.contains(&exchange) {
            return Err(BusError::ExchangeNotFound(exchange.to_owned()));
        }
        let bound = self.queues.values().filter(|queue| {
            queue.spec.exchange == exchange
                && topic_matches(queue.spec.binding_key, &message.routing_key)
        });
        for queue in bound {
            queue.push_back(Envelope {
                exchange: exchange.to_owned(),
                message: message.clone(),
                redelivered: false,
                deliveries: 0,
            });
        }
        self.fan_out(exchange, &message);
        Ok(())
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a copy to every live subscriber whose binding matches; one that fell too far behind misses it.
    fn fan_out(&self, exchange: &str, message: &OutgoingMessage) {
        let subscribers = self.subscribers();
        let matching = subscribers.iter().filter(|subscriber| {
            subscriber.exchange == exchange
                && topic_matches(&subscriber.binding_key, &message.routing_key)
        });
        for subscriber in matching {
            let delivery = Delivery {
                message_id: message.message_id.clone(),
                exchange: exchange.to_owned(),
                routing_key: message.routing_key.clone(),
                content_type: message.content_type.clone(),
                headers: message.headers.clone(),
                body: message.body.clone(),
                redelivered: false,
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = subscriber.sender.try_send(delivery) {
                tracing::warn!(
                    exchange,
                    message_id = %message.message_id,
                    "a live subscriber fell behind; message dropped for it"
                );
            }
        }
    }
}

impl Queue {
    fn messages(&self) -> std::sync::MutexGuard<'_, VecDeque<Envelope>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_back(&self, envelope: Envelope) {
        self.messages().push_back(envelope);
        self.ready.notify_one();
    }

    fn push_front(&self, envelope: Envelope) {
        self.messages().push_front(envelope);
        self.ready.notify_one();
    }

    /// Waits for the next message; cancel-safe (a message is only taken when returned).
    async fn pop(&self) -> Envelope {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if let Some(envelope) = self.messages().pop_front() {
                return envelope;
            }
            ready.await;
        }
    }
}

async fn handle(
    inner: Arc<Inner>,
    queue: Arc<Queue>,
    handler: Arc<dyn MessageHandler>,
    mut envelope: Envelope,
    _permit: OwnedSemaphorePermit,
) {
    envelope.deliveries += 1;
    let delivery = Delivery {
        message_id: envelope.message.message_id.clone(),
        exchange: envelope.exchange.clone(),
        routing_key: envelope.message.routing_key.clone(),
        content_type: envelope.message.content_type.clone(),
        headers: envelope.message.headers.clone(),
        body: envelope.message.body.clone(),
        redelivered: envelope.redelivered,
    };
    let span =
        tracing::info_span!("consume", queue = queue.spec.name, message_id = %delivery.message_id);
    trace::set_parent_from(&span, &delivery.headers);
    async move {
        let outcome = run_handler(handler.as_ref(), delivery).await;
        settle(&inner, &queue, envelope, outcome).await;
    }
    .instrument(span)
    .await;
}

async fn settle(
    inner: &Inner,
    queue: &Queue,
    mut envelope: Envelope,
    outcome: Result<(), HandleError>,
) {
    match outcome {
        Ok(()) => {}
        Err(HandleError::Transient(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "transient failure; requeueing"
            );
            tokio::time::sleep(TRANSIENT_RETRY_PAUSE).await;
            if queue.spec.dead_letters && envelope.deliveries > DELIVERY_LIMIT {
                // What RabbitMQ does with a quorum queue's x-delivery-limit.
                let mut message = envelope.message;
                message.headers.extend(BTreeMap::from([
                    (
                        "x-first-death-reason".to_owned(),
                        "delivery_limit".to_owned(),
                    ),
                    ("x-first-death-queue".to_owned(), queue.spec.name.to_owned()),
                    ("x-first-death-exchange".to_owned(), envelope.exchange),
                ]));
                reroute(inner, message);
            } else {
                envelope.redelivered = true;
                queue.push_front(envelope);
            }
        }
        Err(HandleError::Permanent(reason)) => {
            tracing::warn!(reason, "permanent failure; dead-lettering");
            let mut message = envelope.message;
            message.headers = dead_letter_headers(
                message.headers,
                &reason,
                &envelope.exchange,
                &message.routing_key,
                queue.spec.name,
            );
            message.routing_key = queue.spec.name.to_owned();
            reroute(inner, message);
        }
    }
}

fn reroute(inner: &Inner, message: OutgoingMessage) {
    if let Err(error) = inner.route(DEAD_LETTER_EXCHANGE, message) {
        tracing::error!(error = %error, "could not dead-letter");
    }
}
