//! Consumes ExecutionJobs from `executor.jobs`. An undecodable job is
//! dead-lettered with its reason; a database failure is retried.

use echoflow_bus::{Delivery, HandleError, MessageHandler};
use echoflow_contracts::ExecutionJob;

use crate::engine::{Engine, EngineError};

pub struct JobConsumer {
    pub engine: Engine,
}

#[async_trait::async_trait]
impl MessageHandler for JobConsumer {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandleError> {
        let job = ExecutionJob::decode_bytes(&delivery.body)
            .map_err(|e| HandleError::Permanent(e.to_string()))?;
        match self.engine.run(&job).await {
            Ok(()) => Ok(()),
            Err(EngineError::Malformed(reason)) => Err(HandleError::Permanent(reason)),
            Err(e @ EngineError::Db(_)) => Err(HandleError::Transient(e.into())),
        }
    }
}
