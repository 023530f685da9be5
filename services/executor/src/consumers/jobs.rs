//! Consumes ExecutionJobs from `executor.jobs`. An undecodable job is
//! dead-lettered with its reason; a database failure is retried.

use echoflow_bus::{Delivery, HandleError, MessageHandler};
use echoflow_contracts::ExecutionJob;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::engine::{Engine, EngineError};
use crate::store::dead_letters;

pub struct JobConsumer {
    engine: Engine,
    /// Executions this process is running now. A second delivery of one of
    /// them (the same job published twice) is acked instead of running the
    /// same steps alongside the first; the first delivery still owns the job
    /// and is requeued if it fails.
    in_flight: Mutex<HashSet<String>>,
}

impl JobConsumer {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    fn claim(&self, execution_id: &str) -> Option<Claim<'_>> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.insert(execution_id.to_string()).then(|| Claim {
            consumer: self,
            execution_id: execution_id.to_string(),
        })
    }
}

/// Releases an in-flight execution when its delivery is done (or panicked).
struct Claim<'a> {
    consumer: &'a JobConsumer,
    execution_id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.consumer
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.execution_id);
    }
}

impl JobConsumer {
    /// Records a job that cannot be processed in the dead-letter table, then
    /// lets the bus put it on `executor.dead` with its reason.
    async fn dead_letter(
        &self,
        body: &[u8],
        reason: &str,
        job: Option<&ExecutionJob>,
    ) -> HandleError {
        let parse = |s: &str| uuid::Uuid::parse_str(s).ok();
        let owner = job.and_then(|j| parse(&j.owner_id));
        let execution = job.and_then(|j| parse(&j.execution_id));
        if let Err(e) =
            dead_letters::record_unprocessable(&self.engine.db, body, reason, owner, execution)
                .await
        {
            // Retried later: the row matters as much as the queue.
            return HandleError::Transient(e.into());
        }
        HandleError::Permanent(reason.to_string())
    }
}

#[async_trait::async_trait]
impl MessageHandler for JobConsumer {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let job = match ExecutionJob::decode_bytes(&delivery.body) {
            Ok(job) => job,
            Err(e) => {
                let reason = format!("the job cannot be decoded: {e}");
                return Err(self.dead_letter(&delivery.body, &reason, None).await);
            }
        };
        let Some(_claim) = self.claim(&job.execution_id) else {
            // Handed back, not dropped: it may be a resume (after a wait)
            // that came while the run that scheduled it was still ending.
            tracing::info!(execution_id = %job.execution_id, "already running here; handed back for later");
            return Err(HandleError::Transient(anyhow::anyhow!(
                "execution {} is running here now",
                job.execution_id
            )));
        };
        match self.engine.run(&job).await {
            Ok(()) => Ok(()),
            Err(EngineError::Malformed(reason)) => {
                Err(self.dead_letter(&delivery.body, &reason, Some(&job)).await)
            }
            Err(e @ EngineError::Db(_)) => Err(HandleError::Transient(e.into())),
        }
    }
}
