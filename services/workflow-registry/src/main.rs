//! Runs workflow-registry alone (distributed mode).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    echoflow_service_kit::serve_from_env::<echoflow_workflow_registry::Application>().await
}
