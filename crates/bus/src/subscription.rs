//! Live, transient subscriptions to an exchange (see [`crate::Bus::subscribe`]).

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::message::run_handler;
use crate::{Delivery, HandleError, MessageHandler, trace};

/// A running subscription. It ends when the token given to `subscribe` is cancelled,
/// on [`Subscription::stop`], or when it is dropped.
#[derive(Debug)]
#[must_use = "dropping a Subscription ends it"]
pub struct Subscription {
    /// A child of the caller's token, so stopping one subscription leaves the caller's token alone.
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Subscription {
    /// Runs `deliver` (which must return once `shutdown` is cancelled) as the subscription's task.
    pub(crate) fn spawn(
        shutdown: CancellationToken,
        deliver: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self {
            shutdown,
            task: Some(tokio::spawn(deliver)),
        }
    }

    /// Waits until the subscription ended (its token was cancelled) and let go of the broker.
    pub async fn stopped(mut self) {
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(error = %error, "the subscription task failed");
        }
    }

    /// Ends this subscription and waits until it let go of the broker.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Hands one live delivery to the handler; a failure is only logged, since nothing is redelivered.
pub(crate) async fn deliver(handler: &dyn MessageHandler, delivery: Delivery) {
    let span = tracing::debug_span!(
        "live delivery",
        exchange = %delivery.exchange,
        routing_key = %delivery.routing_key,
        message_id = %delivery.message_id,
    );
    trace::set_parent_from(&span, &delivery.headers);
    async move {
        match run_handler(handler, delivery).await {
            Ok(()) => {}
            Err(HandleError::Transient(error)) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "live delivery failed; dropped"
                );
            }
            Err(HandleError::Permanent(reason)) => {
                tracing::warn!(reason, "live delivery refused; dropped");
            }
        }
    }
    .instrument(span)
    .await;
}
