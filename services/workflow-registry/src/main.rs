//! Runs workflow-registry alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_workflow_registry::startup::serve_from_env().await
}
