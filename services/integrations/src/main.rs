//! Runs integrations alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_integrations::startup::serve_from_env().await
}
