//! A workflow as the API answers it.

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routes::PublicUrl;
use crate::store::workflows;

#[derive(Serialize, ToSchema)]
pub struct WorkflowResponse {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub chatbot_id: Uuid,
    pub is_active: bool,
    pub version: i32,
    pub trigger_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub flow_definition: Option<Value>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

pub(crate) fn respond(
    wf: &workflows::Model,
    trigger_type: String,
    token: Option<&str>,
    public: &PublicUrl,
    definition: Option<Value>,
) -> WorkflowResponse {
    WorkflowResponse {
        id: wf.id,
        name: wf.name.clone(),
        description: wf.description.clone(),
        chatbot_id: wf.chatbot_id,
        is_active: wf.is_active,
        version: wf.current_version,
        trigger_type,
        webhook_url: token.map(|t| format!("{}/hooks/{t}", public.0.trim_end_matches('/'))),
        flow_definition: definition.map(crate::webhook_secrets::redact),
        created_at: wf.created_at,
        updated_at: wf.updated_at,
    }
}
