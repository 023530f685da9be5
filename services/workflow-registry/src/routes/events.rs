//! `POST /api/v1/events`: a CloudEvent sent over HTTP, with the same effect
//! as one published on `echoflow.events`: it goes out through the outbox
//! (so every consumer of the exchange sees it) and starts the `trigger.event`
//! workflows listening for its type. It is the caller's event: its `userid`
//! is the caller, so it starts only their workflows, and a `chatbotid` must
//! be one of their chatbots.

use actix_web::{HttpResponse, web};
use echoflow_bus::{OutgoingMessage, outbox, topology::EVENTS_EXCHANGE};
use echoflow_contracts::{CLOUDEVENTS_CONTENT_TYPE, EventType, TriggerEvent};
use echoflow_service_kit::error::ErrorCode;
use echoflow_service_kit::{ApiError, AuthUser};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::jobs::JobSubmitter;
use crate::ownership::ChatbotDirectory;
use crate::routes::body_error;

#[derive(Serialize, ToSchema)]
pub struct EventAccepted {
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::validation(
        format!("invalid CloudEvent: {field}: {message}"),
        json!({"path": field}),
    )
}

/// Publish a CloudEvent (structured JSON, `specversion` 1.0, with `id`,
/// `source` and `type`; optional `chatbotid`, `time`, `subject`, `data`).
/// A repeat of the same `source` and `id` starts nothing again.
#[utoipa::path(post, path = "/api/v1/events", operation_id = "publishEvent", tag = "events",
    request_body(content = Object, description = "a CloudEvent 1.0 in structured JSON mode"),
    responses((status = 202, body = EventAccepted),
        (status = 422, description = "not a valid CloudEvent, a userid other than the caller's, or a type only echoflow emits (chatbot.deleted, chatbot.end_user_erased)"),
        (status = 404, description = "chatbotid is not one of the caller's chatbots")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn publish(
    jobs: web::Data<JobSubmitter>,
    chatbots: web::Data<ChatbotDirectory>,
    user: AuthUser,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(body_error)?;
    let mut value: Value =
        serde_json::from_slice(&body).map_err(|e| invalid("$", format!("not valid JSON: {e}")))?;
    let event =
        TriggerEvent::from_cloudevent_value(&value).map_err(|e| invalid(&e.field, e.message))?;
    // Only chat announces a chatbot's end; a forged one would delete workflows.
    if EventType::parse(&event.r#type).is_some_and(EventType::is_lifecycle) {
        return Err(invalid(
            "type",
            format!("{} is emitted by echoflow only", event.r#type),
        ));
    }
    if !event.user_id.is_empty() && Uuid::parse_str(&event.user_id).ok() != Some(user.id) {
        return Err(invalid("userid", "must be the caller's own id, or absent"));
    }
    if let Ok(chatbot) = Uuid::parse_str(&event.chatbot_id) {
        chatbots
            .check_owned(chatbot, user.id)
            .await
            .map_err(|e| match e.code {
                ErrorCode::NotFound => e.with_details(json!({"path": "chatbotid"})),
                _ => e,
            })?;
    }
    // The event as sent (extension attributes too), as the caller's.
    value["userid"] = json!(user.id.to_string());
    let body = serde_json::to_vec(&value).map_err(ApiError::internal)?;
    let message = OutgoingMessage::new(
        event.id.clone(),
        &event.r#type,
        CLOUDEVENTS_CONTENT_TYPE,
        body,
    );
    outbox::enqueue(&jobs.db, EVENTS_EXCHANGE, &message).await?;
    jobs.relay.notify();
    tracing::info!(event_type = %event.r#type, "event accepted");
    Ok(HttpResponse::Accepted().json(EventAccepted {
        id: event.id,
        source: event.source,
        event_type: event.r#type,
    }))
}
