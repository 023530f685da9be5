//! The RabbitMQ consumer loop: bounded concurrency, manual ack, dead-lettering, reconnects.

use std::sync::Arc;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::convert::{delivery_of, short_string};
use super::{Inner, declare_topology, is_not_found};
use crate::message::{dead_letter_headers, run_handler};
use crate::topology::DEAD_LETTER_EXCHANGE;
use crate::{Backoff, BusError, HandleError, MessageHandler, TRANSIENT_RETRY_PAUSE, trace};

/// Why a consuming session ended without an error.
enum SessionEnd {
    Shutdown,
    /// The broker cancelled the consumer (`Ok(None)` / end of stream).
    Cancelled,
}

struct Consumer {
    inner: Arc<Inner>,
    queue: String,
    prefetch: u16,
    handler: Arc<dyn MessageHandler>,
    shutdown: CancellationToken,
    /// Bounds the handlers running at once, across reconnects too.
    permits: Arc<Semaphore>,
}

pub(super) async fn run(
    inner: Arc<Inner>,
    queue: &str,
    prefetch: u16,
    handler: Arc<dyn MessageHandler>,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    let prefetch = prefetch.max(1);
    let consumer = Consumer {
        inner,
        queue: queue.to_owned(),
        prefetch,
        handler,
        shutdown,
        permits: Arc::new(Semaphore::new(usize::from(prefetch))),
    };
    let mut in_flight = JoinSet::new();
    let mut backoff = Backoff::new();
    let mut first_session = true;
    loop {
        match consumer.session(&mut in_flight, &mut backoff).await {
            Ok(SessionEnd::Shutdown) => break,
            Ok(SessionEnd::Cancelled) => {
                tracing::warn!(queue, "the broker cancelled the consumer; resubscribing");
            }
            Err(error) if first_session && is_not_found(&error) => {
                while in_flight.join_next().await.is_some() {}
                return Err(BusError::QueueNotFound(queue.to_owned()));
            }
            Err(error) => {
                tracing::warn!(queue, error = %error, "consumer lost the broker; reconnecting");
            }
        }
        first_session = false;
        let delay = backoff.next_delay();
        tokio::select! {
            () = consumer.shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
    Ok(())
}

impl Consumer {
    /// Subscribes on a fresh channel and dispatches deliveries until shutdown or until the channel fails.
    async fn session(
        &self,
        in_flight: &mut JoinSet<()>,
        backoff: &mut Backoff,
    ) -> Result<SessionEnd, BusError> {
        let connection = self.inner.connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(BusError::amqp("open a consumer channel"))?;
        // Re-declared on every session: a deleted queue comes back, not only a restarted broker.
        declare_topology(&channel).await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(BusError::amqp("set the prefetch count"))?;
        let tag = format!("echoflow-{}", uuid::Uuid::new_v4().simple());
        let mut deliveries = channel
            .basic_consume(
                short_string("the queue name", &self.queue)?,
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BusError::amqp("start consuming"))?;
        backoff.reset();
        tracing::info!(queue = %self.queue, prefetch = self.prefetch, "consuming");

        loop {
            while in_flight.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                permit = self.permits.clone().acquire_owned() => permit.map_err(|_| BusError::Closed)?,
            };
            let next = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                next = deliveries.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    in_flight.spawn(handle(
                        self.inner.clone(),
                        self.queue.clone(),
                        self.handler.clone(),
                        delivery,
                        permit,
                    ));
                }
                Some(Err(error)) => return Err(BusError::amqp("receive a delivery")(error)),
                None => return Ok(SessionEnd::Cancelled),
            }
        }

        // Shutdown: stop new deliveries, let in-flight handlers settle on this channel, then close it;
        // prefetched but unhandled messages go back to the queue when the channel closes.
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        while in_flight.join_next().await.is_some() {}
        let _ = channel.close(200, "consumer shut down".into()).await;
        Ok(SessionEnd::Shutdown)
    }
}

async fn handle(
    inner: Arc<Inner>,
    queue: String,
    handler: Arc<dyn MessageHandler>,
    delivery: lapin::message::Delivery,
    _permit: OwnedSemaphorePermit,
) {
    let ours = delivery_of(&delivery);
    let span = tracing::info_span!("consume", queue = %queue, message_id = %ours.message_id);
    trace::set_parent_from(&span, &ours.headers);
    async move {
        let outcome = run_handler(handler.as_ref(), ours).await;
        settle(&inner, &queue, &delivery, outcome).await;
    }
    .instrument(span)
    .await;
}

async fn settle(
    inner: &Inner,
    queue: &str,
    delivery: &lapin::message::Delivery,
    outcome: Result<(), HandleError>,
) {
    match outcome {
        Ok(()) => ack(delivery).await,
        Err(HandleError::Transient(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "transient failure; requeueing"
            );
            requeue_later(delivery).await;
        }
        Err(HandleError::Permanent(reason)) => {
            tracing::warn!(reason, "permanent failure; dead-lettering");
            match dead_letter(inner, queue, delivery, &reason).await {
                Ok(()) => ack(delivery).await,
                Err(error) => {
                    tracing::error!(error = %error, "could not dead-letter; requeueing");
                    requeue_later(delivery).await;
                }
            }
        }
    }
}

async fn ack(delivery: &lapin::message::Delivery) {
    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
        // The channel is gone; the broker redelivers the message to the next consumer.
        tracing::warn!(error = %error, "could not ack");
    }
}

async fn requeue_later(delivery: &lapin::message::Delivery) {
    tokio::time::sleep(TRANSIENT_RETRY_PAUSE).await;
    let requeue = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    if let Err(error) = delivery.acker.nack(requeue).await {
        tracing::warn!(error = %error, "could not nack");
    }
}

/// Republishes the message, body and properties kept, to the dead-letter exchange with the reason.
async fn dead_letter(
    inner: &Inner,
    queue: &str,
    delivery: &lapin::message::Delivery,
    reason: &str,
) -> Result<(), BusError> {
    let added = dead_letter_headers(
        Default::default(),
        reason,
        delivery.exchange.as_str(),
        delivery.routing_key.as_str(),
        queue,
    );
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    for (key, value) in added {
        headers.insert(
            short_string("a header name", &key)?,
            AMQPValue::LongString(LongString::from(value)),
        );
    }
    let properties = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    inner
        .publish_with(
            DEAD_LETTER_EXCHANGE,
            queue,
            &delivery.data,
            properties,
            &message_id,
        )
        .await
}
