//! Connecting to the configured bus.

use echoflow_bus::{RabbitBus, SharedBus};
use secrecy::ExposeSecret;
use std::sync::Arc;

use crate::settings::BusSettings;

/// Connects to RabbitMQ at the configured URL (distributed mode). The
/// embedded mode builds its in-process bus itself and never calls this.
pub async fn connect(settings: &BusSettings) -> anyhow::Result<SharedBus> {
    let url = settings.url.expose_secret();
    if !url.starts_with("amqp://") && !url.starts_with("amqps://") {
        anyhow::bail!("bus.url must be an amqp:// URL in distributed mode");
    }
    let bus = RabbitBus::connect(url).await?;
    Ok(Arc::new(bus))
}
