//! The bus over RabbitMQ: one shared connection, a confirm-mode publisher channel, a channel per consumer.

mod consume;
mod convert;
mod subscribe;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio_util::sync::CancellationToken;

use crate::topology::{DEAD_LETTER_EXCHANGE, DELIVERY_LIMIT, EXCHANGES, QUEUES};
use crate::{Bus, BusError, MessageHandler, OutgoingMessage, Subscription, trace};
use convert::{properties, short_string};

/// How long `health` waits for the broker.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The bus over a RabbitMQ broker.
pub struct RabbitBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RabbitBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitBus").finish_non_exhaustive()
    }
}

impl RabbitBus {
    /// Connects to the broker and declares the topology (idempotently).
    pub async fn connect(amqp_url: &str) -> Result<Self, BusError> {
        let inner = Inner {
            url: amqp_url.to_owned(),
            connection: tokio::sync::Mutex::new(None),
            publisher: tokio::sync::Mutex::new(None),
            channel_generation: AtomicU64::new(0),
        };
        inner.publisher().await?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }
}

#[async_trait::async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, exchange: &str, mut message: OutgoingMessage) -> Result<(), BusError> {
        trace::inject_current(&mut message.headers);
        let properties = properties(&message)?;
        self.inner
            .publish_with(
                exchange,
                &message.routing_key,
                &message.body,
                properties,
                &message.message_id,
            )
            .await
    }

    async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        consume::run(self.inner.clone(), queue, prefetch, handler, shutdown).await
    }

    async fn subscribe(
        &self,
        exchange: &str,
        binding_key: &str,
        handler: Arc<dyn MessageHandler>,
        shutdown: CancellationToken,
    ) -> Result<Subscription, BusError> {
        subscribe::start(self.inner.clone(), exchange, binding_key, handler, shutdown).await
    }

    async fn health(&self) -> Result<(), BusError> {
        tokio::time::timeout(HEALTH_TIMEOUT, self.inner.publisher())
            .await
            .map_err(|_| BusError::Timeout(HEALTH_TIMEOUT))?
            .map(|_| ())
    }
}

pub(crate) struct Inner {
    url: String,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// The confirm-mode publisher channel and its generation, so a failed publish
    /// only discards the channel it failed on, not one a concurrent caller just opened.
    publisher: tokio::sync::Mutex<Option<(u64, Channel)>>,
    channel_generation: AtomicU64,
}

/// Why one publish attempt failed.
enum Attempt {
    /// The channel or connection failed under the publish: worth one retry on a fresh channel.
    ChannelFailed { generation: u64, error: BusError },
    /// Anything else, final.
    Final(BusError),
}

impl Inner {
    /// The live connection, reconnecting (and re-declaring the topology) if it died.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, BusError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref()
            && connection.status().connected()
        {
            return Ok(connection.clone());
        }
        *slot = None;
        let connection = Arc::new(open(&self.url).await?);
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn publisher(&self) -> Result<(u64, Channel), BusError> {
        let mut slot = self.publisher.lock().await;
        if let Some((generation, channel)) = slot.as_ref()
            && channel.status().connected()
        {
            return Ok((*generation, channel.clone()));
        }
        *slot = None;
        let connection = self.connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(BusError::amqp("open the publisher channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(BusError::amqp("enable publisher confirms"))?;
        let generation = self.channel_generation.fetch_add(1, Ordering::Relaxed);
        *slot = Some((generation, channel.clone()));
        Ok((generation, channel))
    }

    async fn discard_publisher(&self, generation: u64) {
        let mut slot = self.publisher.lock().await;
        if slot
            .as_ref()
            .is_some_and(|(current, _)| *current == generation)
        {
            *slot = None;
        }
    }

    /// Publishes and awaits the broker's confirm; a publish that failed because the channel
    /// or connection died is retried once on a fresh one.
    pub(crate) async fn publish_with(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        message_id: &str,
    ) -> Result<(), BusError> {
        let attempt = self
            .publish_once(exchange, routing_key, body, properties.clone(), message_id)
            .await;
        let Err(failure) = attempt else {
            return Ok(());
        };
        match failure {
            Attempt::Final(error) => Err(error),
            Attempt::ChannelFailed { generation, error } => {
                tracing::warn!(error = %error, exchange, message_id, "publish failed; retrying on a fresh channel");
                self.discard_publisher(generation).await;
                match self
                    .publish_once(exchange, routing_key, body, properties, message_id)
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(Attempt::ChannelFailed { generation, error }) => {
                        self.discard_publisher(generation).await;
                        Err(not_found_as_exchange(error, exchange))
                    }
                    Err(Attempt::Final(error)) => Err(error),
                }
            }
        }
    }

    async fn publish_once(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        message_id: &str,
    ) -> Result<(), Attempt> {
        let exchange_name = short_string("the exchange name", exchange).map_err(Attempt::Final)?;
        let routing_key = short_string("the routing key", routing_key).map_err(Attempt::Final)?;
        let (generation, channel) = self.publisher().await.map_err(Attempt::Final)?;
        let failed = |action| {
            move |source| Attempt::ChannelFailed {
                generation,
                error: BusError::Amqp { action, source },
            }
        };
        let confirmation = channel
            .basic_publish(
                exchange_name,
                routing_key,
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .map_err(failed("publish a message"))?
            .await
            .map_err(failed("await the publisher confirm"))?;
        match confirmation {
            Confirmation::Ack(_) => Ok(()),
            Confirmation::Nack(_) | Confirmation::NotRequested => {
                Err(Attempt::Final(BusError::NotConfirmed {
                    exchange: exchange.to_owned(),
                    message_id: message_id.to_owned(),
                }))
            }
        }
    }
}

/// Opens a connection and declares the topology on it.
async fn open(url: &str) -> Result<Connection, BusError> {
    let properties = ConnectionProperties::default().with_connection_name("echoflow-bus".into());
    let connection = Connection::connect(url, properties)
        .await
        .map_err(BusError::Connect)?;
    let channel = connection
        .create_channel()
        .await
        .map_err(BusError::amqp("open a channel"))?;
    declare_topology(&channel).await?;
    let _ = channel.close(200, "topology declared".into()).await;
    tracing::info!("connected to the message broker");
    Ok(connection)
}

/// Declares the exchanges, queues and bindings; safe to repeat.
pub(crate) async fn declare_topology(channel: &Channel) -> Result<(), BusError> {
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for exchange in EXCHANGES {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                durable_exchange,
                FieldTable::default(),
            )
            .await
            .map_err(BusError::amqp("declare an exchange"))?;
    }
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    for queue in QUEUES {
        let mut arguments = FieldTable::default();
        arguments.insert("x-queue-type".into(), long_string("quorum"));
        if queue.dead_letters {
            arguments.insert(
                "x-dead-letter-exchange".into(),
                long_string(DEAD_LETTER_EXCHANGE),
            );
            arguments.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongInt(i32::try_from(DELIVERY_LIMIT).unwrap_or(i32::MAX)),
            );
        }
        channel
            .queue_declare(queue.name.into(), durable_queue, arguments)
            .await
            .map_err(BusError::amqp("declare a queue"))?;
        channel
            .queue_bind(
                queue.name.into(),
                queue.exchange.into(),
                queue.binding_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BusError::amqp("bind a queue"))?;
    }
    Ok(())
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes()))
}

/// Whether the broker answered NOT_FOUND (a missing queue or exchange).
pub(crate) fn is_not_found(error: &BusError) -> bool {
    let (BusError::Amqp { source, .. } | BusError::Connect(source)) = error else {
        return false;
    };
    matches!(
        source.kind(),
        lapin::ErrorKind::ProtocolError(amqp)
            if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
    )
}

fn not_found_as_exchange(error: BusError, exchange: &str) -> BusError {
    if is_not_found(&error) {
        BusError::ExchangeNotFound(exchange.to_owned())
    } else {
        error
    }
}
