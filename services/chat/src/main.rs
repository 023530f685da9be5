//! Runs chat alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_chat::startup::serve_from_env().await
}
