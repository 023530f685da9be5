//! Synchronous webhooks across processes: the registry that took the call
//! waits for the executor's answer over RabbitMQ (`echoflow.responses`).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_waits_answers_with_the_workflows_response_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("sync-hooks@example.com").await;
    echoflow_e2e::sync_webhooks::journey(&api).await;
    cluster.stop().await;
}
