//! The real chat service, started in this process next to a service whose
//! tests need it (the registry's: chat owns the chatbots a workflow belongs to).

use echoflow_bus::SharedBus;
use echoflow_service_kit::Service as _;
use tokio_util::sync::CancellationToken;

/// Starts the chat service on port 0 until `shutdown`; returns its address.
pub async fn spawn(
    database_url: String,
    jwt_secret: &str,
    internal_token: &str,
    bus: SharedBus,
    shutdown: CancellationToken,
) -> String {
    let settings = echoflow_chat::Settings::load(&[
        ("server.host", "127.0.0.1".into()),
        ("server.port", "0".into()),
        ("database.url", database_url),
        ("auth.jwt_secret", jwt_secret.into()),
        ("auth.internal_token", internal_token.into()),
        ("telemetry.otlp_endpoint", String::new()),
    ])
    .expect("chat settings load");
    let chat = echoflow_chat::Application::build(settings, bus)
        .await
        .expect("chat builds");
    let address = format!("http://127.0.0.1:{}", chat.port());
    tokio::spawn(chat.run_until_stopped(shutdown));
    address
}
