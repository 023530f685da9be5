//! Two registry processes on one database and vhost fire each tick of a schedule once.

use super::*;

/// Two registry OS processes against one database and vhost: a schedule
/// every second fires each tick once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registry_processes_fire_each_tick_of_a_schedule_once() {
    use serde_json::json;
    use std::collections::HashSet;

    let cluster = Cluster::start().await;
    let port = free_port();
    let env: Vec<(String, String)> = cluster
        .base_env
        .iter()
        .map(|(k, v)| {
            if k == "ECHOFLOW_SERVER__PORT" {
                (k.clone(), port.to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let mut second = Service::start(
        "workflow-registry-2",
        port,
        &["serve", "workflow-registry"],
        &env,
    )
    .await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("cron@example.com").await;
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "every second", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "nodes": [
                    {"id": "tick", "type": "trigger.schedule", "position": {"x": 0, "y": 0},
                     "data": {"label": "tick", "config": {"cron": "* * * * * *"}}},
                    {"id": "note", "type": "action.set", "position": {"x": 0, "y": 0},
                     "data": {"label": "note", "config": {"values": {"at": "{{ trigger.data.scheduled_for }}"}}}}
                ],
                "edges": [{"id": "e", "source": "tick", "target": "note"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    // Stop firing before counting.
    let id = wf["id"].as_str().unwrap();
    let (status, _) = api
        .put(
            &format!("/api/v1/workflows/{id}"),
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(status, 200);
    second.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, list) = api
        .get(&format!("/api/v1/executions?workflow_id={id}&limit=200"))
        .await;
    let mut ticks = Vec::new();
    for item in list["items"].as_array().unwrap() {
        let execution = api.wait_finished(item["id"].as_str().unwrap()).await;
        assert_eq!(execution["status"], "completed", "{execution}");
        ticks.push(
            execution["trigger"]["data"]["scheduled_for"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let unique: HashSet<&String> = ticks.iter().collect();
    assert_eq!(unique.len(), ticks.len(), "a tick fired twice: {ticks:?}");
    assert!(
        (3..=7).contains(&ticks.len()),
        "about one firing a second: {ticks:?}"
    );
    cluster.stop().await;
}
