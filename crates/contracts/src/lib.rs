//! Wire contracts generated from `proto/`, the CloudEvents JSON form of a
//! TriggerEvent, and the names of the events and updates services send.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cloudevent;
mod events;

pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/echoflow.v1.rs"));
}

pub use cloudevent::CloudEventError;
pub use events::{CloudEventBuilder, EventType};
pub use prost::Message;
pub use v1::{
    ConversationMessage, ExecutionJob, ExecutionUpdate, TriggerEvent, UpdateKind, WebhookResponse,
};

/// Content type of protobuf-encoded messages on the bus.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// Content type of CloudEvents in structured JSON mode.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Routing key of ExecutionJobs on `echoflow.jobs`.
pub const JOB_ROUTING_KEY: &str = "execution";
/// Routing key of WebhookResponses on `echoflow.responses`.
pub const WEBHOOK_RESPONSE_ROUTING_KEY: &str = "webhook.response";
/// Routing key of ConversationMessages on `echoflow.updates` (ExecutionUpdates use `execution.*`).
pub const CONVERSATION_MESSAGE_ROUTING_KEY: &str = "conversation.message";

/// Why a message body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {what}: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

impl ExecutionJob {
    pub fn decode_bytes(body: &[u8]) -> Result<Self, DecodeError> {
        let job = <Self as Message>::decode(body).map_err(|e| DecodeError {
            what: "ExecutionJob",
            reason: e.to_string(),
        })?;
        if uuid::Uuid::parse_str(&job.execution_id).is_err() {
            return Err(DecodeError {
                what: "ExecutionJob",
                reason: format!("execution_id {:?} is not a UUID", job.execution_id),
            });
        }
        if uuid::Uuid::parse_str(&job.workflow_id).is_err() {
            return Err(DecodeError {
                what: "ExecutionJob",
                reason: format!("workflow_id {:?} is not a UUID", job.workflow_id),
            });
        }
        // An empty plan is a resume: the executor reads the plan it recorded.
        Ok(job)
    }
}

impl UpdateKind {
    /// The routing key of an ExecutionUpdate of this kind on `echoflow.updates`.
    pub const fn routing_key(self) -> &'static str {
        match self {
            UpdateKind::Started => "execution.started",
            UpdateKind::StepFinished => "execution.step_finished",
            UpdateKind::Finished => "execution.finished",
            UpdateKind::Unspecified => "execution.update",
        }
    }
}

impl ExecutionUpdate {
    pub fn decode_bytes(body: &[u8]) -> Result<Self, DecodeError> {
        <Self as Message>::decode(body).map_err(|e| DecodeError {
            what: "ExecutionUpdate",
            reason: e.to_string(),
        })
    }
}

impl WebhookResponse {
    pub fn decode_bytes(body: &[u8]) -> Result<Self, DecodeError> {
        let response = <Self as Message>::decode(body).map_err(|e| DecodeError {
            what: "WebhookResponse",
            reason: e.to_string(),
        })?;
        if uuid::Uuid::parse_str(&response.execution_id).is_err() {
            return Err(DecodeError {
                what: "WebhookResponse",
                reason: format!("execution_id {:?} is not a UUID", response.execution_id),
            });
        }
        Ok(response)
    }
}
