//! Run with: cargo test -p echoflow-e2e --test browsers
//!
//! Browsers' cross-origin requests against `echoflow up` (the gateway in
//! front of the real services, in one process): real preflights, the
//! widget's origin check by its chatbot's `allowed_origins`, and the
//! management API's allow-list.
#![allow(clippy::unwrap_used)]

use echoflow_e2e::cors;
use echoflow_test_support::api::Api;
use echoflow_test_support::{Service, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_page_and_a_widget_page_call_the_api_from_their_origins() {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let mut up = Service::start(
        "up",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &cors::gateway_env(),
    )
    .await;
    let mut api = Api::new(up.base_url());
    api.sign_up("cors@example.com").await;
    cors::browsers_journey(&api).await;
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
