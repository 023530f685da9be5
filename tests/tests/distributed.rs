//! Run with: cargo test -p echoflow-e2e --test distributed
//!
//! gateway, chat, workflow-registry and executor as separate OS processes against
//! PostgreSQL and RabbitMQ, driven through the public API.
#![allow(clippy::unwrap_used)]

use echoflow_e2e::api::Api;
use echoflow_e2e::{Service, TestDb, TestVhost, free_port};
use echoflow_e2e::{conversation, scenarios};
use serde_json::Value;
use std::time::{Duration, Instant};

struct Cluster {
    gateway: Service,
    chat: Service,
    registry: Service,
    executor: Service,
    db: TestDb,
    vhost: TestVhost,
}

impl Cluster {
    async fn start() -> Self {
        let db = TestDb::create().await;
        let vhost = TestVhost::create();
        let (gw, reg, exe, chat) = (free_port(), free_port(), free_port(), free_port());
        let gateway_url = format!("http://127.0.0.1:{gw}");
        let env = |port: u16| -> Vec<(String, String)> {
            [
                ("ECHOFLOW_SERVER__HOST", "127.0.0.1".to_string()),
                ("ECHOFLOW_SERVER__PORT", port.to_string()),
                ("ECHOFLOW_DATABASE__URL", db.url()),
                ("ECHOFLOW_DATABASE__MAX_CONNECTIONS", "5".to_string()),
                ("ECHOFLOW_BUS__URL", vhost.url()),
                (
                    "ECHOFLOW_AUTH__JWT_SECRET",
                    "e2e-secret-e2e-secret-e2e-secret-e2e".to_string(),
                ),
                (
                    "ECHOFLOW_AUTH__INTERNAL_TOKEN",
                    "e2e-internal-token".to_string(),
                ),
                (
                    "ECHOFLOW_SERVICES__REGISTRY_URL",
                    format!("http://127.0.0.1:{reg}"),
                ),
                (
                    "ECHOFLOW_SERVICES__EXECUTOR_URL",
                    format!("http://127.0.0.1:{exe}"),
                ),
                (
                    "ECHOFLOW_SERVICES__CHAT_URL",
                    format!("http://127.0.0.1:{chat}"),
                ),
                ("ECHOFLOW_SERVICES__PUBLIC_URL", gateway_url.clone()),
                (
                    "ECHOFLOW_EXECUTOR__ALLOW_NETWORKS",
                    "127.0.0.0/8".to_string(),
                ),
                (
                    "ECHOFLOW_TELEMETRY__LOG_LEVEL",
                    "info,sqlx=warn".to_string(),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let chat = Service::start("chat", chat, &["serve", "chat"], &env(chat)).await;
        let executor = Service::start("executor", exe, &["serve", "executor"], &env(exe)).await;
        let registry = Service::start(
            "workflow-registry",
            reg,
            &["serve", "workflow-registry"],
            &env(reg),
        )
        .await;
        let gateway = Service::start("gateway", gw, &["serve", "gateway"], &env(gw)).await;
        Self {
            gateway,
            chat,
            registry,
            executor,
            db,
            vhost,
        }
    }

    async fn stop(self) {
        let Cluster {
            mut gateway,
            mut chat,
            mut registry,
            mut executor,
            db,
            vhost,
        } = self;
        gateway.kill();
        chat.kill();
        registry.kill();
        executor.kill();
        db.drop_database().await;
        vhost.delete();
    }
}

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
        &cluster.registry,
        &cluster.executor,
    ] {
        scenarios::health_endpoints(&service.base_url()).await;
    }
    scenarios::docs_are_served(&api.base).await;
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
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_while_the_executor_is_down_complete_exactly_once_with_their_own_version() {
    let mut cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("grace@example.com").await;
    let customers = scenarios::customer_api().await;
    let (workflow_id, hook) = scenarios::create_webhook_workflow(&api, &customers.uri()).await;

    cluster.executor.kill();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(scenarios::call_webhook(&api, &hook).await);
    }
    // Nothing ran: the jobs wait in RabbitMQ.
    assert!(customers.received_requests().await.unwrap().is_empty());
    // A new version saved while they wait does not change what they run.
    let (status, v2) = api
        .put(
            &format!("/api/v1/workflows/{workflow_id}"),
            &serde_json::json!({"flow_definition": {
                "nodes": [{"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0},
                           "data": {"label": "Webhook", "config": {}}}],
                "edges": []}}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    cluster.executor.restart().await;

    for id in &ids {
        let execution = api.wait_finished(id).await;
        scenarios::assert_completed_run(&execution, &workflow_id);
    }
    assert_eq!(
        customers.received_requests().await.unwrap().len(),
        ids.len(),
        "each lookup ran once"
    );
    let (_, list) = api
        .get(&format!(
            "/api/v1/executions?workflow_id={workflow_id}&status=completed"
        ))
        .await;
    assert_eq!(list["total"], ids.len());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_cloudevent_ends_in_the_dead_letter_queue_with_its_reason() {
    use lapin::options::{BasicGetOptions, BasicPublishOptions};
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let cluster = Cluster::start().await;
    let conn = Connection::connect(&cluster.vhost.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "echoflow.events".into(),
            "custom.order_shipped".into(),
            BasicPublishOptions::default(),
            br#"{"id": "1", "source": "/shop", "type": "custom.order_shipped"}"#,
            BasicProperties::default().with_message_id("malformed-1".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        if let Some(message) = channel
            .basic_get("executor.dead".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            break message;
        }
        assert!(Instant::now() < deadline, "nothing reached executor.dead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let headers = dead
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let reason = headers
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == "x-echoflow-reason")
        .map(|(_, v)| match v {
            lapin::types::AMQPValue::LongString(s) => {
                String::from_utf8_lossy(s.as_bytes()).into_owned()
            }
            other => format!("{other:?}"),
        })
        .expect("a reason header");
    assert!(reason.contains("specversion"), "reason: {reason}");
    let body: Value = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(
        body["type"], "custom.order_shipped",
        "the original body is kept"
    );
    let _ = conn.close(200, "done".into()).await;
    cluster.stop().await;
}
