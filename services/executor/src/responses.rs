//! WebhookResponses on `echoflow.responses`: what a waiting webhook caller
//! is answered with, for an execution whose trigger is a `trigger.webhook`
//! with `respond: when_finished`. One per execution, written to the outbox
//! in the transaction that decides it (so a crash cannot lose it):
//! - when the first `action.respond` step completes: its status, headers, body;
//! - else when the execution ends: completed, the last completed step's
//!   output (`{}` when no step ran), as n8n answers with its last node;
//!   failed or cancelled, the error, which the registry answers as 500 with
//!   the execution id.
//!
//! Every registry replica subscribes; the one holding the request answers.

use echoflow_bus::{OutgoingMessage, outbox, topology::RESPONSES_EXCHANGE};
use echoflow_contracts::{
    Message, PROTOBUF_CONTENT_TYPE, WEBHOOK_RESPONSE_ROUTING_KEY, WebhookResponse,
};
use echoflow_domain::{NodeKind, TriggerSpec, respond::RespondMode};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::store::{executions, status, steps};

/// The outcome of an answer made by an `action.respond` step.
pub const RESPONDED: &str = "responded";

/// Whether a caller may be waiting for this execution's answer.
fn waits(execution: &executions::Model) -> bool {
    let spec = execution
        .plan
        .as_ref()
        .and_then(TriggerSpec::of_stored_plan);
    matches!(spec, Some(TriggerSpec::Webhook(hook)) if hook.respond == RespondMode::WhenFinished)
}

/// How many `action.respond` steps of the execution completed, as `conn` sees it.
async fn completed_respond_steps<C: ConnectionTrait>(
    conn: &C,
    execution_id: Uuid,
) -> Result<u64, DbErr> {
    steps::Entity::find()
        .filter(steps::Column::ExecutionId.eq(execution_id))
        .filter(steps::Column::NodeType.eq(NodeKind::ActionRespond.as_str()))
        .filter(steps::Column::Status.eq(status::COMPLETED))
        .count(conn)
        .await
}

/// After an `action.respond` step's row was written on `conn` (completed,
/// with `output` = `{status, headers, body}`): its answer, unless an
/// earlier respond step already answered.
pub async fn enqueue_responded<C: ConnectionTrait>(
    conn: &C,
    execution: &executions::Model,
    output: &Value,
) -> Result<(), DbErr> {
    if !waits(execution) || completed_respond_steps(conn, execution.id).await? > 1 {
        return Ok(());
    }
    let status = output.get("status").and_then(Value::as_i64).unwrap_or(200);
    let headers = output.get("headers").cloned().unwrap_or_else(|| json!({}));
    let body = output.get("body").filter(|b| !b.is_null());
    let response = WebhookResponse {
        execution_id: execution.id.to_string(),
        outcome: RESPONDED.to_string(),
        status: i32::try_from(status).unwrap_or(500),
        headers_json: headers.to_string(),
        body_json: body.map(Value::to_string).unwrap_or_default(),
        error: String::new(),
    };
    publish(conn, response).await
}

/// As the execution ends on `conn` with `end_status`: its answer, unless an
/// `action.respond` step already gave one.
pub async fn enqueue_final<C: ConnectionTrait>(
    conn: &C,
    execution: &executions::Model,
    end_status: &str,
    error: Option<&str>,
) -> Result<(), DbErr> {
    if !waits(execution) || completed_respond_steps(conn, execution.id).await? > 0 {
        return Ok(());
    }
    let mut response = WebhookResponse {
        execution_id: execution.id.to_string(),
        outcome: end_status.to_string(),
        headers_json: "{}".to_string(),
        ..WebhookResponse::default()
    };
    if end_status == status::COMPLETED {
        let last = steps::Entity::find()
            .filter(steps::Column::ExecutionId.eq(execution.id))
            .filter(steps::Column::Status.eq(status::COMPLETED))
            .order_by_desc(steps::Column::CompletedAt)
            .order_by_desc(steps::Column::Seq)
            .one(conn)
            .await?;
        let output = last.and_then(|s| s.output).unwrap_or_else(|| json!({}));
        response.status = 200;
        response.body_json = output.to_string();
    } else {
        response.status = 500;
        response.error = error.unwrap_or_default().to_string();
    }
    publish(conn, response).await
}

async fn publish<C: ConnectionTrait>(conn: &C, response: WebhookResponse) -> Result<(), DbErr> {
    let message = OutgoingMessage::new(
        Uuid::now_v7().to_string(),
        WEBHOOK_RESPONSE_ROUTING_KEY,
        PROTOBUF_CONTENT_TYPE,
        response.encode_to_vec(),
    );
    outbox::enqueue(conn, RESPONSES_EXCHANGE, &message).await
}
