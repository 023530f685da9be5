//! ExecutionUpdates on `echoflow.updates`. The final one (`finished`) is
//! written to the outbox in the transaction that ends the execution, so it is
//! never lost; `started` and `step_finished` are progress for live views and
//! are published after their commit without the outbox (the steps themselves
//! are durable rows), which spares every step an outbox row and its relay.

use chrono::Utc;
use echoflow_bus::{OutgoingMessage, SharedBus, outbox, topology::UPDATES_EXCHANGE};
use echoflow_contracts::{
    CLOUDEVENTS_CONTENT_TYPE, EventType, ExecutionUpdate, Message, PROTOBUF_CONTENT_TYPE,
    TriggerEvent, UpdateKind,
};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::store::executions;

/// The source of the events the executor emits.
const SOURCE: &str = "/executor";

/// Enqueues one update about `execution` in the outbox, on `conn`.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    execution: &executions::Model,
    kind: UpdateKind,
    status: &str,
    node_id: Option<&str>,
    error: Option<&str>,
    duration_ms: i64,
) -> Result<(), DbErr> {
    let message = build(execution, kind, status, node_id, error, duration_ms);
    outbox::enqueue(conn, UPDATES_EXCHANGE, &message).await
}

/// Publishes a progress update in the background; a lost one costs a live
/// view one refresh, nothing else.
pub fn announce(
    bus: &SharedBus,
    execution: &executions::Model,
    kind: UpdateKind,
    status: &str,
    node_id: Option<&str>,
    duration_ms: i64,
) {
    let message = build(execution, kind, status, node_id, None, duration_ms);
    let bus = bus.clone();
    tokio::spawn(async move {
        if let Err(e) = bus.publish(UPDATES_EXCHANGE, message).await {
            tracing::debug!(error = %e, "progress update not published");
        }
    });
}

fn build(
    execution: &executions::Model,
    kind: UpdateKind,
    status: &str,
    node_id: Option<&str>,
    error: Option<&str>,
    duration_ms: i64,
) -> OutgoingMessage {
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
    OutgoingMessage::new(
        Uuid::now_v7().to_string(),
        kind.routing_key(),
        PROTOBUF_CONTENT_TYPE,
        update.encode_to_vec(),
    )
}

/// `execution.failed` on `echoflow.events` (CloudEvents, through the
/// outbox): workflows may react to it, and the registry starts the failed
/// workflow's error workflow (`settings.error_workflow_id`) with it.
pub async fn enqueue_failed_event<C: ConnectionTrait>(
    conn: &C,
    execution: &executions::Model,
    failed: Option<&crate::store::dead_letters::FailedStep>,
    error: Option<&str>,
) -> Result<(), DbErr> {
    let error_workflow_id = execution
        .plan
        .as_ref()
        .and_then(|p| p.pointer("/settings/error_workflow_id"))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let event = TriggerEvent::builder(SOURCE, EventType::ExecutionFailed)
        .subject(execution.id)
        .chatbot(execution.chatbot_id)
        .user(execution.owner_id)
        .data(serde_json::json!({
            "execution_id": execution.id,
            "workflow_id": execution.workflow_id,
            "workflow_version": execution.workflow_version,
            "failed_step": failed.map(|f| f.node_id.clone()),
            "attempts": failed.map(|f| f.attempts),
            "error": error,
            "trigger": execution.trigger,
            "error_workflow_id": error_workflow_id,
        }))
        .build();
    let message = OutgoingMessage::new(
        event.id.clone(),
        &event.r#type,
        CLOUDEVENTS_CONTENT_TYPE,
        event.to_cloudevent_json(),
    );
    outbox::enqueue(conn, echoflow_bus::topology::EVENTS_EXCHANGE, &message).await
}
