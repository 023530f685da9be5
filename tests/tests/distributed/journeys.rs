//! The user journeys across processes: a webhook workflow, an angry customer's
//! escalation, integrations (connect, act, a revoked grant, a refreshed 401).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_workflow_runs_end_to_end_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    let (workflow_id, _, _customers) =
        scenarios::webhook_journey(&mut api, "ada@example.com").await;
    let (_, list) = api.get("/api/v1/executions").await;
    let execution_id = list["items"][0]["id"].as_str().unwrap().to_string();

    scenarios::invalid_graphs_are_refused(&api).await;
    scenarios::other_users_see_nothing(&api.base, &workflow_id, Some(&execution_id)).await;
    for service in [
        &cluster.gateway,
        &cluster.chat,
        &cluster.integrations,
        &cluster.registry,
        &cluster.executor,
    ] {
        scenarios::health_endpoints(&service.base_url()).await;
    }
    scenarios::docs_are_served(&api.base).await;
    scenarios::events_over_http(&api).await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_angry_customer_starts_the_escalation_workflow_across_processes() {
    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("mia@example.com").await;
    let bot = conversation::conversation_journey(&api).await;
    conversation::chatbots_are_private(&api.base, &bot).await;
    conversation::a_template_runs(&api).await;
    echoflow_e2e::analytics::overview_of_known_data(&api.base).await;
    cluster.stop().await;
}

/// The authentication class across processes: a provider's 401 is refreshed
/// and retried by integrations, then retried once more by the executor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_401_is_retried_once_after_a_token_refresh_across_processes() {
    let fakes = integrations::FakeProviders::start().await;
    let cluster = Cluster::start_with(fakes.env()).await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("auth-class@example.com").await;
    integrations::authentication::authentication_class(&api, &fakes).await;
    // HubSpot's fakes expect the revoked-grant journey, which this test skips.
    fakes.hubspot.reset().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_connect_act_and_survive_a_revoked_grant_across_processes() {
    let fakes = integrations::FakeProviders::start().await;
    let cluster = Cluster::start_with(fakes.env()).await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("ines@example.com").await;
    let mut other = Api::new(cluster.gateway.base_url());
    other.sign_up("otto@example.com").await;
    integrations::journey::integrations_journey(&api, &other, &fakes).await;
    // The database holds no token in clear text.
    let rows = cluster
        .db
        .query_json("SELECT row_to_json(c)::text AS row FROM integrations.connections c")
        .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in &rows {
        for secret in [
            integrations::SLACK_ACCESS,
            integrations::SLACK_REFRESH,
            integrations::SHEETS_ACCESS,
            integrations::SHEETS_REFRESH,
            integrations::HUBSPOT_ACCESS,
        ] {
            assert!(!row.contains(secret), "a token in clear text: {row}");
        }
    }
    cluster.stop().await;
}
