//! Asks the chat service who owns a chatbot: a workflow may only belong to
//! one of its owner's chatbots.

use echoflow_domain::NodeKind;
use echoflow_service_kit::{ApiError, ErrorCode, InternalClient};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[derive(Clone)]
pub struct ChatbotDirectory {
    client: InternalClient,
    chat_url: String,
    /// Where connections are asked about; empty = not checked on save (the
    /// executor's call through integrations still checks ownership).
    integrations_url: String,
}

#[derive(Deserialize)]
struct Connection {
    owner_id: Uuid,
    provider: String,
}

#[derive(Deserialize)]
struct Owner {
    owner_id: Uuid,
}

impl ChatbotDirectory {
    pub fn new(chat_url: &str, internal_token: SecretString) -> Result<Self, reqwest::Error> {
        let client = InternalClient::builder(Duration::from_secs(2), Duration::from_secs(5))
            .service_token(internal_token)
            .build()?;
        Ok(Self {
            client,
            chat_url: chat_url.trim_end_matches('/').to_string(),
            integrations_url: String::new(),
        })
    }

    /// Also checks, on save, that integration nodes name connections of the
    /// workflow's owner, asking the integrations service at `url`.
    pub fn with_integrations(mut self, url: &str) -> Self {
        self.integrations_url = url.trim_end_matches('/').to_string();
        self
    }

    /// Ok when every integration node of `definition` (a raw React Flow graph)
    /// whose `connection_id` is a literal names a connection of `owner_id`
    /// for that node's provider; 422 `INVALID_WORKFLOW` at
    /// `flow_definition.nodes[i].data.config.connection_id` otherwise. A
    /// `connection_id` given by an expression is checked when the step runs.
    #[tracing::instrument(skip(self, definition))]
    pub async fn check_connections(
        &self,
        definition: &serde_json::Value,
        owner_id: Uuid,
    ) -> Result<(), ApiError> {
        if self.integrations_url.is_empty() {
            return Ok(());
        }
        let Some(nodes) = definition.get("nodes").and_then(|n| n.as_array()) else {
            return Ok(());
        };
        for (index, node) in nodes.iter().enumerate() {
            let Some(action) = node
                .get("type")
                .and_then(|t| t.as_str())
                .and_then(|t| t.parse::<NodeKind>().ok())
                .and_then(NodeKind::integration_action)
            else {
                continue;
            };
            let (node_type, provider) = (action.node_kind(), action.provider());
            let Some(raw) = node["data"]["config"]["connection_id"].as_str() else {
                continue;
            };
            if raw.contains("{{") {
                continue;
            }
            let path = format!("flow_definition.nodes[{index}].data.config.connection_id");
            let refuse = |message: String| {
                ApiError::new(
                    ErrorCode::InvalidWorkflow,
                    format!("invalid workflow at {path}: {message}"),
                )
                .with_details(json!({"path": path, "faults": [{"path": path, "message": message}]}))
            };
            let Ok(id) = Uuid::parse_str(raw.trim()) else {
                return Err(refuse(format!("'{raw}' is not a connection id")));
            };
            match self.connection(id, owner_id).await? {
                Some(c) if c.owner_id == owner_id && c.provider == provider => {}
                Some(c) if c.owner_id == owner_id => {
                    return Err(refuse(format!(
                        "connection {id} is a {} connection; {node_type} needs a {provider} one",
                        c.provider
                    )));
                }
                _ => return Err(refuse(format!("connection {id} not found"))),
            }
        }
        Ok(())
    }

    async fn connection(&self, id: Uuid, owner_id: Uuid) -> Result<Option<Connection>, ApiError> {
        let url = format!("{}/internal/connections/{id}", self.integrations_url);
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "integrations service cannot confirm a connection's owner");
            ApiError::unavailable("cannot check the connection right now; try again shortly")
        };
        let response = self
            .client
            .get(&url)
            .query(&[("owner_id", owner_id.to_string())])
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        match response.status().as_u16() {
            200 => response
                .json()
                .await
                .map(Some)
                .map_err(|e| unavailable(e.to_string())),
            404 => Ok(None),
            other => Err(unavailable(format!("integrations answered {other}"))),
        }
    }

    /// Ok when `owner_id` owns `chatbot_id`; 404 (naming `chatbot_id`) when
    /// the chatbot does not exist or is another user's; 503 when chat cannot say.
    #[tracing::instrument(skip(self))]
    pub async fn check_owned(&self, chatbot_id: Uuid, owner_id: Uuid) -> Result<(), ApiError> {
        let url = format!("{}/internal/chatbots/{chatbot_id}", self.chat_url);
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "chat service cannot confirm a chatbot's owner");
            ApiError::unavailable("cannot check the chatbot right now; try again shortly")
        };
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        match response.status().as_u16() {
            200 => {
                let owner: Owner = response
                    .json()
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                if owner.owner_id == owner_id {
                    Ok(())
                } else {
                    Err(not_found(chatbot_id))
                }
            }
            404 => Err(not_found(chatbot_id)),
            other => Err(unavailable(format!("chat answered {other}"))),
        }
    }
}

fn not_found(chatbot_id: Uuid) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("chatbot {chatbot_id} not found"),
    )
    .with_details(json!({"path": "chatbot_id"}))
}
