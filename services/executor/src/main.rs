//! Runs the executor alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_service_kit::serve_from_env::<echoflow_executor::Application>().await
}
