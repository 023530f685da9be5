//! Turning a trigger into an ExecutionJob: written to the outbox (durable
//! once committed), relayed to `echoflow.jobs`, and announced to the executor
//! so the execution is visible as `queued` at once.

use chrono::Utc;
use echoflow_bus::{OutgoingMessage, outbox, outbox::OutboxHandle, topology::JOBS_EXCHANGE};
use echoflow_contracts::{
    CloudEventBuilder, EventType, ExecutionJob, JOB_ROUTING_KEY, Message, PROTOBUF_CONTENT_TYPE,
    TriggerEvent,
};
use echoflow_service_kit::InternalClient;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use secrecy::SecretString;
use std::time::Duration;
use uuid::Uuid;

use crate::store::deliveries::{self, Delivery};
use crate::store::{versions::CurrentPlan, workflows};

/// What submitting jobs needs.
#[derive(Clone)]
pub struct JobSubmitter {
    pub db: DatabaseConnection,
    pub relay: OutboxHandle,
    executor_url: String,
    client: InternalClient,
}

impl JobSubmitter {
    pub fn new(
        db: DatabaseConnection,
        relay: OutboxHandle,
        executor_url: &str,
        internal_token: SecretString,
    ) -> Result<Self, reqwest::Error> {
        let client = InternalClient::builder(Duration::from_millis(500), Duration::from_secs(2))
            .service_token(internal_token)
            .build()?;
        Ok(Self {
            db,
            relay,
            executor_url: executor_url.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// Queues one run of the workflow's current version; returns the execution id.
    pub async fn submit(
        &self,
        workflow: &workflows::Model,
        version: &CurrentPlan,
        trigger: TriggerEvent,
    ) -> Result<Uuid, sea_orm::DbErr> {
        self.submit_job(build_job(workflow, version, trigger)).await
    }

    /// Queues `job` (made by [`build_job`], so its execution id is known
    /// before it can run); returns the execution id.
    pub async fn submit_job(&self, job: ExecutionJob) -> Result<Uuid, sea_orm::DbErr> {
        let execution_id = Uuid::parse_str(&job.execution_id)
            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        let body = job.encode_to_vec();
        enqueue(&self.db, &job.execution_id, body.clone()).await?;
        self.relay.notify();
        self.announce(body).await;
        Ok(execution_id)
    }

    /// Queues one run unless a delivery with the same `dedupe_key` was
    /// accepted for this workflow within `window`; then answers with that
    /// delivery's execution and queues nothing. The key and the job commit
    /// together.
    pub async fn submit_once(
        &self,
        workflow: &workflows::Model,
        version: &CurrentPlan,
        trigger: TriggerEvent,
        dedupe_key: &str,
        window: chrono::Duration,
    ) -> Result<Submitted, sea_orm::DbErr> {
        let job = build_job(workflow, version, trigger);
        self.submit_job_once(workflow, job, dedupe_key, window)
            .await
    }

    /// [`Self::submit_once`] for a job already made by [`build_job`].
    pub async fn submit_job_once(
        &self,
        workflow: &workflows::Model,
        job: ExecutionJob,
        dedupe_key: &str,
        window: chrono::Duration,
    ) -> Result<Submitted, sea_orm::DbErr> {
        let execution_id = Uuid::parse_str(&job.execution_id)
            .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        let txn = self.db.begin().await?;
        let delivery = deliveries::claim(
            &txn,
            workflow.id,
            dedupe_key,
            execution_id,
            Utc::now(),
            window,
        )
        .await?;
        if let Delivery::Repeat(original) = delivery {
            txn.rollback().await?;
            return Ok(Submitted::Repeat(original));
        }
        let body = job.encode_to_vec();
        enqueue(&txn, &job.execution_id, body.clone()).await?;
        txn.commit().await?;
        self.relay.notify();
        self.announce(body).await;
        Ok(Submitted::New(execution_id))
    }

    /// Tells the executor about the queued execution. Best effort: when the
    /// executor is down the job still waits, durably, in the outbox or queue.
    async fn announce(&self, body: Vec<u8>) {
        let request = self
            .client
            .post(format!("{}/internal/executions", self.executor_url))
            .header("content-type", PROTOBUF_CONTENT_TYPE);
        match request.body(body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "executor refused the announcement"),
            Err(e) => {
                tracing::warn!(error = %e, "executor unreachable; the job waits in the queue")
            }
        }
    }
}

/// What [`JobSubmitter::submit_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    New(Uuid),
    /// A repeated delivery: the execution the first one started.
    Repeat(Uuid),
}

/// An ExecutionJob for one run of `version`.
pub fn build_job(
    workflow: &workflows::Model,
    version: &CurrentPlan,
    trigger: TriggerEvent,
) -> ExecutionJob {
    ExecutionJob {
        execution_id: Uuid::now_v7().to_string(),
        workflow_id: workflow.id.to_string(),
        workflow_version: version.version,
        owner_id: workflow.owner_id.to_string(),
        chatbot_id: workflow.chatbot_id.to_string(),
        trigger: Some(trigger),
        plan_json: version.plan.to_string(),
        retry_of: String::new(),
        queued_at: Utc::now().to_rfc3339(),
    }
}

/// Writes the job to the outbox on `conn` (the caller's transaction, if any).
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    execution_id: &str,
    body: Vec<u8>,
) -> Result<(), sea_orm::DbErr> {
    let message = OutgoingMessage::new(execution_id, JOB_ROUTING_KEY, PROTOBUF_CONTENT_TYPE, body);
    outbox::enqueue(conn, JOBS_EXCHANGE, &message).await
}

/// An event made by the registry itself (webhook call, manual run, schedule
/// firing) about `workflow`, as its owner's: the caller adds its data.
pub fn local_event(
    event_type: EventType,
    source: String,
    workflow: &workflows::Model,
) -> CloudEventBuilder {
    TriggerEvent::builder(source, event_type)
        .subject(workflow.id)
        .chatbot(workflow.chatbot_id)
        .user(workflow.owner_id)
}
