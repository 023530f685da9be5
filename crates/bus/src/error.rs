//! Errors the bus reports to its callers.

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or refused the connection.
    #[error("cannot connect to the message broker")]
    Connect(#[source] lapin::Error),
    /// An AMQP operation failed (channel or connection closed, broker error).
    #[error("AMQP error while trying to {action}")]
    Amqp {
        action: &'static str,
        #[source]
        source: lapin::Error,
    },
    /// The broker negatively acknowledged a publish: the message is not stored.
    #[error("the broker did not confirm the message {message_id} published to {exchange}")]
    NotConfirmed {
        exchange: String,
        message_id: String,
    },
    /// The message cannot be expressed in AMQP (e.g. a name longer than 255 bytes).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// Publishing to an exchange the topology does not have.
    #[error("exchange {0} does not exist")]
    ExchangeNotFound(String),
    /// Consuming a queue that does not exist.
    #[error("queue {0} does not exist")]
    QueueNotFound(String),
    /// The broker did not answer in time.
    #[error("the message broker did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The bus was shut down.
    #[error("the bus is closed")]
    Closed,
}

impl BusError {
    pub(crate) fn amqp(action: &'static str) -> impl FnOnce(lapin::Error) -> Self {
        move |source| Self::Amqp { action, source }
    }
}
