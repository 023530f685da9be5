//! Run with: cargo test -p echoflow-e2e --test distributed
//!
//! gateway, chat, workflow-registry and executor as separate OS processes against
//! PostgreSQL and RabbitMQ, driven through the public API.
#![allow(clippy::unwrap_used)]

use echoflow_e2e::{conversation, integrations, scenarios};
use echoflow_test_support::api::Api;
use echoflow_test_support::{Service, TestDb, TestVhost, free_port};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod browsers;
mod chatbot_lifecycle;
mod dead_letters;
mod executor_crashes;
mod journeys;
mod schedules;
mod session_stream;
mod startup_secrets;
mod sync_webhooks;

struct Cluster {
    /// The environment every service gets (its port aside), to start more.
    base_env: Vec<(String, String)>,
    gateway: Service,
    chat: Service,
    integrations: Service,
    registry: Service,
    executor: Service,
    db: TestDb,
    vhost: TestVhost,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// A cluster whose services also get `extra` environment variables.
    async fn start_with(extra: Vec<(String, String)>) -> Self {
        let db = TestDb::create().await;
        let vhost = TestVhost::create();
        let (gw, reg, exe, chat) = (free_port(), free_port(), free_port(), free_port());
        let integ = free_port();
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
                    "e2e-internal-token-e2e-internal-token".to_string(),
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
                (
                    "ECHOFLOW_SERVICES__INTEGRATIONS_URL",
                    format!("http://127.0.0.1:{integ}"),
                ),
                (
                    "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
                    "e2e:ZTJlLXRva2VuLWVuY3J5cHRpb24ta2V5LTMyYnl0ZXM=".to_string(),
                ),
                ("ECHOFLOW_INTEGRATIONS__ACTIVE_KEY_ID", "e2e".to_string()),
                (
                    "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
                    "e2e:cmVnaXN0cnktZTJlLXdlYmhvb2stc2VhbGluZy1rZXk=".to_string(),
                ),
                ("ECHOFLOW_REGISTRY__ACTIVE_KEY_ID", "e2e".to_string()),
                ("ECHOFLOW_SERVICES__PUBLIC_URL", gateway_url.clone()),
                (
                    "ECHOFLOW_EXECUTOR__ALLOW_NETWORKS",
                    "127.0.0.0/8".to_string(),
                ),
                ("ECHOFLOW_EXECUTOR__SHUTDOWN_GRACE_SECS", "2".to_string()),
                (
                    "ECHOFLOW_TELEMETRY__LOG_LEVEL",
                    "info,sqlx=warn".to_string(),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain(extra.iter().cloned())
            .collect()
        };
        let chat = Service::start("chat", chat, &["serve", "chat"], &env(chat)).await;
        let integrations = Service::start(
            "integrations",
            integ,
            &["serve", "integrations"],
            &env(integ),
        )
        .await;
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
            base_env: env(0),
            gateway,
            chat,
            integrations,
            registry,
            executor,
            db,
            vhost,
        }
    }

    async fn stop(self) {
        let Cluster {
            base_env: _,
            mut gateway,
            mut chat,
            mut integrations,
            mut registry,
            mut executor,
            db,
            vhost,
        } = self;
        gateway.kill();
        chat.kill();
        integrations.kill();
        registry.kill();
        executor.kill();
        db.drop_database().await;
        vhost.delete();
    }
}
