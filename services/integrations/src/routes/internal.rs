//! The internal API (service token) the executor and the registry use:
//! whether a connection exists for an owner, and running provider actions
//! on an owner's connection. Every call names the owner, so a workflow can
//! only use its owner's connections.

use actix_web::{HttpResponse, web};
use echoflow_service_kit::InternalCaller;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::actions::Action;
use crate::error::{Error, invalid, not_found};
use crate::events::Origin;
use crate::state::Integrations;
use crate::store::connections;

#[derive(Deserialize)]
pub struct OwnerQuery {
    pub owner_id: Uuid,
}

#[derive(Serialize)]
pub struct ConnectionOwner {
    pub id: Uuid,
    pub provider: String,
    pub owner_id: Uuid,
    pub status: String,
}

/// `GET /internal/connections/{id}?owner_id=`: 404 when absent or another owner's.
#[tracing::instrument(skip_all, fields(connection_id = %id))]
pub async fn connection(
    _caller: InternalCaller,
    state: web::Data<Integrations>,
    id: web::Path<Uuid>,
    query: web::Query<OwnerQuery>,
) -> Result<HttpResponse, Error> {
    let row = connections::find_owned(&state.db, *id, query.owner_id)
        .await?
        .ok_or_else(|| not_found("connection"))?;
    Ok(HttpResponse::Ok().json(ConnectionOwner {
        id: row.id,
        provider: row.provider,
        owner_id: row.owner_id,
        status: row.status,
    }))
}

#[derive(Deserialize)]
pub struct RunAction {
    pub connection_id: Uuid,
    pub owner_id: Uuid,
    pub chatbot_id: Option<Uuid>,
    /// Only echoed into events.
    pub execution_id: Option<String>,
    /// Sent to the provider as `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub input: Value,
}

/// `POST /internal/actions/{action}`: 200 `{"output": ...}`, or the error
/// codes of [`crate::error::Error`].
#[tracing::instrument(skip_all, fields(action = %action, connection_id = %body.connection_id))]
pub async fn run_action(
    _caller: InternalCaller,
    state: web::Data<Integrations>,
    action: web::Path<String>,
    body: web::Json<RunAction>,
) -> Result<HttpResponse, Error> {
    let body = body.into_inner();
    let parsed = Action::parse(&action, &body.input).ok_or_else(|| {
        Error::Api(echoflow_service_kit::ApiError::not_found(&format!(
            "action {action:?}"
        )))
    })??;
    let key = body
        .idempotency_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 300 || k.chars().any(char::is_control)) {
        return Err(invalid(
            "idempotency_key",
            "must be at most 300 characters without control characters",
        ));
    }
    let row = connections::find_owned(&state.db, body.connection_id, body.owner_id)
        .await?
        .ok_or_else(|| not_found("connection"))?;
    let wanted = parsed.provider();
    if row.provider != wanted.as_str() {
        return Err(invalid(
            "connection_id",
            format!(
                "is a {} connection; {action} needs a {wanted} connection",
                row.provider
            ),
        ));
    }
    let origin = Origin {
        chatbot_id: body.chatbot_id,
        execution_id: body
            .execution_id
            .as_deref()
            .and_then(|e| Uuid::parse_str(e).ok()),
    };
    let answer = state
        .calls
        .send(row.id, body.owner_id, origin, key, |_, base| {
            Ok(parsed.request(base))
        })
        .await;
    let outcome = parsed.output(answer);
    let label = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.code().as_str(),
    };
    metrics::counter!(
        "integrations_actions_total",
        "provider" => wanted.as_str(),
        "outcome" => label
    )
    .increment(1);
    Ok(HttpResponse::Ok().json(json!({"output": outcome?})))
}
