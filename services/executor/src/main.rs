//! Runs the executor alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_executor::startup::serve_from_env().await
}
