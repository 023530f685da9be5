//! The echoflow under test: distributed (three processes, PostgreSQL,
//! RabbitMQ) or embedded (`echoflow up`), with a signed-in client and a way
//! to read executions straight from the executor's slice.

use chrono::{DateTime, Utc};
use echoflow_test_support::{Api, Service, TestDb, TestVhost, free_port};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use uuid::Uuid;

pub struct Target {
    pub mode: &'static str,
    /// RSS of each process 2 s after start, before any request.
    pub idle_rss_kb: Vec<(String, u64)>,
    pub services: Vec<Service>,
    pub api: Api,
    pub executions: DatabaseConnection,
    backend: DbBackend,
    db: Option<TestDb>,
    vhost: Option<TestVhost>,
    data_dir: Option<PathBuf>,
}

/// A finished execution as stored.
pub struct Finished {
    pub status: String,
    pub completed_at: DateTime<Utc>,
}

fn common_env() -> Vec<(String, String)> {
    [
        ("ECHOFLOW_TELEMETRY__LOG_LEVEL", "warn"),
        ("ECHOFLOW_EXECUTOR__ALLOW_NETWORKS", "127.0.0.0/8"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Target {
    pub async fn distributed(binary: PathBuf) -> anyhow::Result<Self> {
        let db = TestDb::create().await;
        let vhost = TestVhost::create();
        let (gw, reg, exe, chat) = (free_port(), free_port(), free_port(), free_port());
        let integ = free_port();
        let env = |port: u16| {
            let mut env = common_env();
            env.extend(
                [
                    ("ECHOFLOW_SERVER__HOST", "127.0.0.1".to_string()),
                    ("ECHOFLOW_SERVER__PORT", port.to_string()),
                    ("ECHOFLOW_DATABASE__URL", db.url()),
                    ("ECHOFLOW_BUS__URL", vhost.url()),
                    (
                        "ECHOFLOW_AUTH__JWT_SECRET",
                        "bench-secret-bench-secret-bench-secret".into(),
                    ),
                    (
                        "ECHOFLOW_AUTH__INTERNAL_TOKEN",
                        "bench-internal-bench-internal-bench-internal".into(),
                    ),
                    (
                        "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
                        "bench:YmVuY2gtaW50ZWdyYXRpb25zLXRva2VuLWtleS0zMmI=".into(),
                    ),
                    ("ECHOFLOW_INTEGRATIONS__ACTIVE_KEY_ID", "bench".into()),
                    (
                        "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
                        "bench:YmVuY2gtcmVnaXN0cnktd2ViaG9vay1rZXktMzJieXQ=".into(),
                    ),
                    ("ECHOFLOW_REGISTRY__ACTIVE_KEY_ID", "bench".into()),
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
                        "ECHOFLOW_SERVICES__PUBLIC_URL",
                        format!("http://127.0.0.1:{gw}"),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
            );
            env
        };
        let chat =
            Service::start_binary(binary.clone(), "chat", chat, &["serve", "chat"], &env(chat))
                .await;
        let integrations = Service::start_binary(
            binary.clone(),
            "integrations",
            integ,
            &["serve", "integrations"],
            &env(integ),
        )
        .await;
        let executor = Service::start_binary(
            binary.clone(),
            "executor",
            exe,
            &["serve", "executor"],
            &env(exe),
        )
        .await;
        let registry = Service::start_binary(
            binary.clone(),
            "workflow-registry",
            reg,
            &["serve", "workflow-registry"],
            &env(reg),
        )
        .await;
        let gateway =
            Service::start_binary(binary, "gateway", gw, &["serve", "gateway"], &env(gw)).await;
        let services = vec![gateway, registry, chat, integrations, executor];
        let idle_rss_kb = idle_rss(&services).await;
        let executions =
            echoflow_service_kit::db::connect(&SecretString::from(db.url()), "executions", 4)
                .await?;
        let mut api = Api::new(services[0].base_url());
        api.sign_up("bench@example.com").await;
        Ok(Self {
            mode: "distributed",
            idle_rss_kb,
            services,
            api,
            executions,
            backend: DbBackend::Postgres,
            db: Some(db),
            vhost: Some(vhost),
            data_dir: None,
        })
    }

    pub async fn embedded(binary: PathBuf) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("echoflow-bench-{}", Uuid::new_v4().simple()));
        let port = free_port();
        let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
        let up = Service::start_binary(
            binary,
            "echoflow-up",
            port,
            &["up", "--port", &port_arg, "--data-dir", &dir_arg],
            &common_env(),
        )
        .await;
        let url = SecretString::from(format!("sqlite://{}/executions.db?mode=rwc", dir.display()));
        let services = vec![up];
        let idle_rss_kb = idle_rss(&services).await;
        let executions = echoflow_service_kit::db::connect(&url, "executions", 2).await?;
        let mut api = Api::new(services[0].base_url());
        api.sign_up("bench@example.com").await;
        Ok(Self {
            mode: "embedded",
            idle_rss_kb,
            services,
            api,
            executions,
            backend: DbBackend::Sqlite,
            db: None,
            vhost: None,
            data_dir: Some(dir),
        })
    }

    /// A connection to another slice of the target's database (`chat`, ...).
    pub async fn slice(&self, name: &str) -> anyhow::Result<DatabaseConnection> {
        let url = match (&self.db, &self.data_dir) {
            (Some(db), _) => db.url(),
            (None, Some(dir)) => format!("sqlite://{}/{name}.db?mode=rwc", dir.display()),
            (None, None) => anyhow::bail!("the target has no database"),
        };
        Ok(echoflow_service_kit::db::connect(&SecretString::from(url), name, 2).await?)
    }

    /// Saves a workflow; returns the path of its webhook.
    pub async fn create_workflow(&self, definition: Value) -> anyhow::Result<String> {
        let body = json!({"name": "bench", "chatbot_id": self.api.chatbot_id(), "flow_definition": definition});
        let (status, wf) = self.api.post("/api/v1/workflows", &body).await;
        anyhow::ensure!(status == 201, "creating a workflow failed: {status} {wf}");
        let url = wf["webhook_url"].as_str().unwrap_or_default();
        let at = url
            .find("/hooks/")
            .ok_or_else(|| anyhow::anyhow!("no webhook_url"))?;
        Ok(url[at..].to_string())
    }

    /// Number of executions in a final state.
    pub async fn finished_count(&self) -> anyhow::Result<u64> {
        let row = self
            .executions
            .query_one_raw(Statement::from_string(
                self.backend,
                "SELECT COUNT(*) AS n FROM executions WHERE status IN ('completed', 'failed', 'cancelled')",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no count"))?;
        Ok(u64::try_from(row.try_get::<i64>("", "n")?)?)
    }

    /// Finished executions by id.
    pub async fn finished(&self) -> anyhow::Result<HashMap<Uuid, Finished>> {
        let rows = self
            .executions
            .query_all_raw(Statement::from_string(
                self.backend,
                "SELECT id, status, completed_at FROM executions WHERE completed_at IS NOT NULL",
            ))
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            out.insert(
                row.try_get::<Uuid>("", "id")?,
                Finished {
                    status: row.try_get("", "status")?,
                    completed_at: row.try_get("", "completed_at")?,
                },
            );
        }
        Ok(out)
    }

    /// Resident memory (kB) of each service process.
    pub fn rss_kb(&self) -> Vec<(String, u64)> {
        self.services
            .iter()
            .map(|s| (s.name.clone(), s.pid().map(rss_of).unwrap_or(0)))
            .collect()
    }

    pub async fn stop(mut self) {
        for s in &mut self.services {
            s.kill();
        }
        let _ = self.executions.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
        if let Some(vhost) = self.vhost.take() {
            vhost.delete();
        }
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn idle_rss(services: &[Service]) -> Vec<(String, u64)> {
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    services
        .iter()
        .map(|s| (s.name.clone(), s.pid().map(rss_of).unwrap_or(0)))
        .collect()
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

/// webhook -> set -> if -> set: the 3-step workflow of every latency figure.
pub fn three_step() -> Value {
    json!({
        "nodes": [
            node("hook", "trigger.webhook", json!({})),
            node("shape", "action.set", json!({"values": {"n": "{{ trigger.data.body.n }}", "kind": "order"}})),
            node("big", "condition.if", json!({"condition": "{{ steps.shape.output.n >= 0 }}"})),
            node("done", "action.set", json!({"values": {"ok": true, "n": "{{ steps.shape.output.n }}"}})),
        ],
        "edges": [
            {"id": "e1", "source": "hook", "target": "shape"},
            {"id": "e2", "source": "shape", "target": "big"},
            {"id": "e3", "source": "big", "target": "done", "sourceHandle": "true"},
        ]
    })
}

/// webhook -> `steps` chained `action.set` nodes.
pub fn chain(steps: usize) -> Value {
    let mut nodes = vec![node("hook", "trigger.webhook", json!({}))];
    let mut edges = Vec::new();
    let mut previous = "hook".to_string();
    for i in 0..steps {
        let id = format!("s{i}");
        nodes.push(node(
            &id,
            "action.set",
            json!({"values": {"i": i, "n": "{{ trigger.data.body.n }}"}}),
        ));
        edges.push(json!({"id": format!("e{i}"), "source": previous, "target": id}));
        previous = id;
    }
    json!({"nodes": nodes, "edges": edges})
}
