//! Consumes ExecutionJobs from `executor.jobs`. An undecodable job is
//! dead-lettered with its reason; a database failure is retried.

use echoflow_bus::{Delivery, HandleError, MessageHandler};
use echoflow_contracts::ExecutionJob;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::engine::{Engine, EngineError};

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

#[async_trait::async_trait]
impl MessageHandler for JobConsumer {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let job = ExecutionJob::decode_bytes(&delivery.body)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        let Some(_claim) = self.claim(&job.execution_id) else {
            tracing::info!(execution_id = %job.execution_id, "already running here; duplicate delivery ignored");
            return Ok(());
        };
        match self.engine.run(&job).await {
            Ok(()) => Ok(()),
            Err(EngineError::Malformed(reason)) => Err(HandleError::Permanent(reason)),
            Err(e @ EngineError::Db(_)) => Err(HandleError::Transient(e.into())),
        }
    }
}
