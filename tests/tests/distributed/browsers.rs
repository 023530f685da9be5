//! Browsers' cross-origin requests with every service its own process: the
//! gateway answers the preflights and passes chat's origin decision through.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_page_and_a_widget_page_call_the_api_from_their_origins_across_processes() {
    let cluster = Cluster::start_with(echoflow_e2e::cors::gateway_env()).await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("cors@example.com").await;
    echoflow_e2e::cors::browsers_journey(&api).await;
    cluster.stop().await;
}
