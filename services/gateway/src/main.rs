//! Runs the gateway alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_gateway::startup::serve_from_env().await
}
