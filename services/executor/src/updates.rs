//! ExecutionUpdates, written to the outbox in the transaction of the state
//! change they report, relayed to `echoflow.updates`.

use chrono::Utc;
use echoflow_bus::{OutgoingMessage, outbox, topology::UPDATES_EXCHANGE};
use echoflow_contracts::{ExecutionUpdate, Message, PROTOBUF_CONTENT_TYPE, UpdateKind};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::store::executions;

/// Enqueues one update about `execution`.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    execution: &executions::Model,
    kind: UpdateKind,
    status: &str,
    node_id: Option<&str>,
    error: Option<&str>,
    duration_ms: i64,
) -> Result<(), DbErr> {
    let update = ExecutionUpdate {
        execution_id: execution.id.to_string(),
        workflow_id: execution.workflow_id.to_string(),
        owner_id: execution.owner_id.to_string(),
        chatbot_id: execution.chatbot_id.to_string(),
        kind: kind as i32,
        status: status.to_string(),
        node_id: node_id.unwrap_or_default().to_string(),
        error: error.unwrap_or_default().to_string(),
        duration_ms,
        at: Utc::now().to_rfc3339(),
    };
    let routing_key = match kind {
        UpdateKind::Started => "execution.started",
        UpdateKind::StepFinished => "execution.step_finished",
        UpdateKind::Finished => "execution.finished",
        UpdateKind::Unspecified => "execution.update",
    };
    let message = OutgoingMessage::new(
        Uuid::now_v7().to_string(),
        routing_key,
        PROTOBUF_CONTENT_TYPE,
        update.encode_to_vec(),
    );
    outbox::enqueue(conn, UPDATES_EXCHANGE, &message).await
}
