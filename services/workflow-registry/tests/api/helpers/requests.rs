//! The calls the tests make, as methods of `TestApp`, and what a test consumer received.

use std::time::{Duration, Instant};

use echoflow_bus::{Delivery, OutgoingMessage, topology};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, ExecutionJob};
use reqwest::RequestBuilder;
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use super::app::*;
use super::definitions::{flow_with_trigger, hook_path, workflow_body};

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A new chatbot of the signed-in user.
    pub async fn chatbot(&self) -> Uuid {
        self.chatbot_as(&self.token).await
    }

    /// A new chatbot of the user `token` belongs to.
    pub async fn chatbot_as(&self, token: &str) -> Uuid {
        create_chatbot(&self.client, &self.chat_address, token).await
    }

    /// Creates a webhook workflow whose trigger has `config`; returns its `/hooks/{token}` path.
    pub async fn webhook_path(&self, config: Value) -> String {
        let flow = flow_with_trigger("trigger.webhook", config);
        let created = self
            .created(&workflow_body("hook", self.chatbot().await, flow))
            .await;
        hook_path(&created)
    }

    /// An access token for another user.
    pub fn token_for(&self, user_id: Uuid) -> String {
        self.keys
            .issue(user_id, &format!("{}@example.com", user_id.simple()))
            .unwrap()
    }

    fn authed(&self, request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    pub async fn create_workflow_as(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let request = self.client.post(self.url("/api/v1/workflows")).json(body);
        read(self.authed(request, token).send().await.unwrap()).await
    }

    pub async fn create_workflow(&self, body: &Value) -> (u16, Value) {
        self.create_workflow_as(Some(&self.token), body).await
    }

    /// Creates a workflow that must be valid; returns its body.
    pub async fn created(&self, body: &Value) -> Value {
        let (status, created) = self.create_workflow(body).await;
        assert_eq!(status, 201, "create: {created}");
        created
    }

    pub async fn get_workflow_as(&self, token: Option<&str>, id: &str) -> (u16, Value) {
        let request = self
            .client
            .get(self.url(&format!("/api/v1/workflows/{id}")));
        read(self.authed(request, token).send().await.unwrap()).await
    }

    pub async fn get_workflow(&self, id: &str) -> (u16, Value) {
        self.get_workflow_as(Some(&self.token), id).await
    }

    pub async fn list_workflows(&self, query: &str) -> (u16, Value) {
        let request = self
            .client
            .get(self.url(&format!("/api/v1/workflows{query}")))
            .bearer_auth(&self.token);
        read(request.send().await.unwrap()).await
    }

    pub async fn update_workflow_as(
        &self,
        token: Option<&str>,
        id: &str,
        body: &Value,
    ) -> (u16, Value) {
        let request = self
            .client
            .put(self.url(&format!("/api/v1/workflows/{id}")))
            .json(body);
        read(self.authed(request, token).send().await.unwrap()).await
    }

    pub async fn update_workflow(&self, id: &str, body: &Value) -> (u16, Value) {
        self.update_workflow_as(Some(&self.token), id, body).await
    }

    pub async fn delete_workflow_as(&self, token: Option<&str>, id: &str) -> (u16, Value) {
        let request = self
            .client
            .delete(self.url(&format!("/api/v1/workflows/{id}")));
        read(self.authed(request, token).send().await.unwrap()).await
    }

    pub async fn delete_workflow(&self, id: &str) -> (u16, Value) {
        self.delete_workflow_as(Some(&self.token), id).await
    }

    /// The registry's database, connected as the service connects.
    pub async fn registry_db(&self) -> sea_orm::DatabaseConnection {
        let url = SecretString::from(self._databases.urls().0);
        echoflow_service_kit::db::connect(&url, echoflow_migrations::Slice::Registry.name(), 2)
            .await
            .unwrap()
    }

    /// Everything the registry's database holds, as bytes: on PostgreSQL
    /// every row of every table as JSON text, on SQLite the files themselves
    /// (the write-ahead log included).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        match &self._databases {
            Databases::Sqlite(paths) => {
                let mut bytes = Vec::new();
                for suffix in ["", "-wal"] {
                    let mut path = paths[0].clone().into_os_string();
                    path.push(suffix);
                    bytes.extend(std::fs::read(path).unwrap_or_default());
                }
                bytes
            }
            Databases::Postgres(db) => postgres_rows(&db.url()).await.into_bytes(),
        }
    }

    pub async fn execute_as(&self, token: Option<&str>, id: &str, body: &Value) -> (u16, Value) {
        let request = self
            .client
            .post(self.url(&format!("/api/v1/workflows/{id}/execute")))
            .json(body);
        read(self.authed(request, token).send().await.unwrap()).await
    }

    pub async fn execute(&self, id: &str, body: &Value) -> (u16, Value) {
        self.execute_as(Some(&self.token), id, body).await
    }

    /// `POST /hooks/{token}` with a raw body and extra headers.
    pub async fn call_hook(
        &self,
        hook_path_and_query: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url(hook_path_and_query))
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.unwrap()).await
    }

    /// `POST /api/v1/events` with a raw body, as the user `token` belongs to.
    pub async fn send_event_as(&self, token: Option<&str>, body: &str) -> (u16, Value) {
        let request = self
            .client
            .post(self.url("/api/v1/events"))
            .header("content-type", "application/cloudevents+json")
            .body(body.to_string());
        read(self.authed(request, token).send().await.unwrap()).await
    }

    /// `POST /api/v1/events` as the signed-in user; must be accepted.
    pub async fn send_event(&self, event: &Value) {
        let (status, body) = self
            .send_event_as(Some(&self.token), &event.to_string())
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["id"], event["id"], "{body}");
        assert_eq!(body["type"], event["type"], "{body}");
    }

    /// Publishes a CloudEvent on `echoflow.events` as a producer service would.
    pub async fn publish_event(&self, event: &Value) {
        let message_id = event["id"].as_str().unwrap_or("no-id").to_string();
        let routing_key = event["type"].as_str().unwrap_or("unknown").to_string();
        self.bus
            .publish(
                topology::EVENTS_EXCHANGE,
                OutgoingMessage::new(
                    message_id,
                    routing_key,
                    CLOUDEVENTS_CONTENT_TYPE,
                    serde_json::to_vec(event).unwrap(),
                ),
            )
            .await
            .unwrap();
    }

    /// Announcements the executor received, decoded, in arrival order.
    pub async fn announced_jobs(&self) -> Vec<ExecutionJob> {
        self.executor
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == "/internal/executions")
            .map(|r| {
                assert_eq!(
                    r.headers
                        .get("x-echoflow-internal-token")
                        .map(|v| v.to_str().unwrap()),
                    Some(INTERNAL_TOKEN),
                    "announcement without the service token"
                );
                ExecutionJob::decode_bytes(&r.body).unwrap()
            })
            .collect()
    }

    /// Polls until the executor received an announcement of `execution_id`.
    pub async fn wait_for_announcement(&self, execution_id: &str) -> ExecutionJob {
        let started = Instant::now();
        loop {
            if let Some(job) = self
                .announced_jobs()
                .await
                .into_iter()
                .find(|j| j.execution_id == execution_id)
            {
                return job;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no announcement of {execution_id} within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Starts consuming `queue` on the app's bus; deliveries come out of the returned stream.
    pub fn consume(&self, queue: &'static str) -> Deliveries {
        Deliveries(echoflow_test_support::events::consume(&self.bus, queue))
    }
}

/// What a test consumer received from one queue.
pub struct Deliveries(echoflow_test_support::events::Deliveries);

impl Deliveries {
    /// The next delivery, failing the test after the deadline.
    pub async fn next(&mut self) -> Delivery {
        self.0.next_within(DEADLINE).await
    }

    /// The next delivery decoded as an ExecutionJob.
    pub async fn next_job(&mut self) -> ExecutionJob {
        let delivery = self.next().await;
        assert_eq!(delivery.exchange, topology::JOBS_EXCHANGE);
        ExecutionJob::decode_bytes(&delivery.body).unwrap()
    }

    /// Asserts nothing more arrives within `quiet`.
    pub async fn assert_none_within(&mut self, quiet: Duration) {
        if let Some(delivery) = self.0.try_next_within(quiet).await {
            match ExecutionJob::decode_bytes(&delivery.body) {
                Ok(job) => panic!(
                    "unexpected job of workflow {} for trigger {:?}",
                    job.workflow_id,
                    job.trigger.map(|t| (t.source, t.id, t.r#type))
                ),
                Err(_) => panic!(
                    "unexpected delivery {} on {}",
                    delivery.message_id, delivery.exchange
                ),
            }
        }
    }
}

/// The trigger data of a job, as JSON.
pub fn trigger_data(job: &ExecutionJob) -> Value {
    serde_json::from_str(&job.trigger.as_ref().unwrap().data_json).unwrap()
}

/// Every row of every table of the database at `url`, as JSON lines.
async fn postgres_rows(url: &str) -> String {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let tables = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' \
             AND table_schema NOT IN ('pg_catalog', 'information_schema')",
        ))
        .await
        .unwrap();
    let mut text = String::new();
    for table in tables {
        let schema: String = table.try_get("", "table_schema").unwrap();
        let name: String = table.try_get("", "table_name").unwrap();
        // Identifiers from the catalogue, quoted: a test-only dump.
        let sql = format!("SELECT row_to_json(t)::text AS row FROM \"{schema}\".\"{name}\" t");
        for row in db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
        {
            let row: String = row.try_get("", "row").unwrap();
            text.push_str(&row);
            text.push('\n');
        }
    }
    db.close().await.unwrap();
    text
}
