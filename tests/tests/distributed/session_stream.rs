//! The end user's session stream across processes: chat, registry, executor
//! and gateway as separate processes on PostgreSQL and RabbitMQ.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_message_reaches_the_session_stream_within_a_second_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("widget@example.com").await;
    let latency =
        echoflow_e2e::session_stream::workflow_message_reaches_the_session_stream(&api).await;
    println!(
        "distributed: {} ms from the step's commit to the session stream",
        latency.num_milliseconds()
    );
    cluster.stop().await;
}
