//! A chatbot's end across processes: chat announces it through its outbox
//! on RabbitMQ; the registry and the executor, each its own process on
//! PostgreSQL, do their part.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_chatbot_and_erasing_an_end_user_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("lifecycle@example.com").await;
    let mut stranger = Api::new(cluster.gateway.base_url());
    stranger.sign_up("stranger@example.com").await;
    echoflow_e2e::chatbot_lifecycle::deleting_a_chatbot_retires_its_workflows(&api).await;
    echoflow_e2e::chatbot_lifecycle::erasing_an_end_user(&api, &stranger).await;
    cluster.stop().await;
}
