//! Live subscriptions over RabbitMQ: a server-named, exclusive, auto-delete queue per subscriber,
//! consumed without acknowledgements, declared and bound again after a reconnect.

use std::sync::Arc;

use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Consumer};
use tokio_util::sync::CancellationToken;

use super::convert::{delivery_of, short_string};
use super::{Inner, declare_topology, is_not_found};
use crate::subscription::deliver;
use crate::{Backoff, BusError, MessageHandler, Subscription};

/// What one subscription keeps across reconnects.
struct Live {
    inner: Arc<Inner>,
    exchange: ShortString,
    binding_key: ShortString,
    handler: Arc<dyn MessageHandler>,
}

/// One subscription on one channel: its queue lives as long as this consumer.
struct Session {
    channel: Channel,
    queue: ShortString,
    tag: ShortString,
    deliveries: Consumer,
}

/// Why a session stopped delivering.
enum SessionEnd {
    Shutdown,
    Lost(String),
}

pub(super) async fn start(
    inner: Arc<Inner>,
    exchange: &str,
    binding_key: &str,
    handler: Arc<dyn MessageHandler>,
    shutdown: CancellationToken,
) -> Result<Subscription, BusError> {
    let live = Live {
        inner,
        exchange: short_string("the exchange name", exchange)?,
        binding_key: short_string("the binding key", binding_key)?,
        handler,
    };
    let session = live.open().await.map_err(|error| {
        if is_not_found(&error) {
            BusError::ExchangeNotFound(exchange.to_owned())
        } else {
            error
        }
    })?;
    let shutdown = shutdown.child_token();
    let stopped = shutdown.clone();
    Ok(Subscription::spawn(shutdown, live.run(session, stopped)))
}

impl Live {
    /// Declares a fresh queue, binds it and starts consuming it.
    async fn open(&self) -> Result<Session, BusError> {
        let connection = self.inner.connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(BusError::amqp("open a subscriber channel"))?;
        // Like `consume`: whatever was deleted under us comes back.
        declare_topology(&channel).await?;
        let transient = QueueDeclareOptions {
            durable: false,
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        // Exclusive queues are classic whatever the vhost's default queue type says; be explicit.
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("classic")),
        );
        let queue = channel
            .queue_declare("".into(), transient, arguments)
            .await
            .map_err(BusError::amqp("declare a subscriber queue"))?
            .name()
            .clone();
        channel
            .queue_bind(
                queue.clone(),
                self.exchange.clone(),
                self.binding_key.clone(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BusError::amqp("bind a subscriber queue"))?;
        let tag: ShortString = format!("echoflow-live-{}", uuid::Uuid::new_v4().simple()).into();
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            exclusive: true,
            ..BasicConsumeOptions::default()
        };
        let deliveries = channel
            .basic_consume(queue.clone(), tag.clone(), no_ack, FieldTable::default())
            .await
            .map_err(BusError::amqp("start a subscription"))?;
        tracing::debug!(exchange = %self.exchange, binding_key = %self.binding_key, queue = %queue, "subscribed");
        Ok(Session {
            channel,
            queue,
            tag,
            deliveries,
        })
    }

    /// Delivers until shutdown, opening a new session whenever the broker goes away.
    async fn run(self, mut session: Session, shutdown: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            match self.pump(&mut session, &shutdown).await {
                SessionEnd::Shutdown => {
                    session.close().await;
                    return;
                }
                SessionEnd::Lost(reason) => {
                    tracing::warn!(exchange = %self.exchange, queue = %session.queue, reason, "subscription lost the broker; resubscribing");
                }
            }
            session = loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                }
                match self.open().await {
                    Ok(fresh) => {
                        backoff.reset();
                        break fresh;
                    }
                    Err(error) => {
                        tracing::warn!(exchange = %self.exchange, error = %error, "could not resubscribe");
                    }
                }
            };
        }
    }

    async fn pump(&self, session: &mut Session, shutdown: &CancellationToken) -> SessionEnd {
        loop {
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => return SessionEnd::Shutdown,
                next = session.deliveries.next() => next,
            };
            match next {
                Some(Ok(delivery)) => deliver(self.handler.as_ref(), delivery_of(&delivery)).await,
                Some(Err(error)) => return SessionEnd::Lost(error.to_string()),
                None => return SessionEnd::Lost("the broker cancelled the consumer".to_owned()),
            }
        }
    }
}

impl Session {
    /// Cancelling the only consumer deletes the auto-delete queue at once.
    async fn close(self) {
        let _ = self
            .channel
            .basic_cancel(self.tag, BasicCancelOptions::default())
            .await;
        let _ = self.channel.close(200, "subscription ended".into()).await;
    }
}
