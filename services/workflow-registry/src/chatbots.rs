//! Asks the chat service who owns a chatbot: a workflow may only belong to
//! one of its owner's chatbots.

use echoflow_service_kit::auth::INTERNAL_TOKEN_HEADER;
use echoflow_service_kit::{ApiError, ErrorCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[derive(Clone)]
pub struct ChatbotDirectory {
    client: reqwest::Client,
    chat_url: String,
    internal_token: SecretString,
}

#[derive(Deserialize)]
struct Owner {
    owner_id: Uuid,
}

impl ChatbotDirectory {
    pub fn new(chat_url: &str, internal_token: SecretString) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            client,
            chat_url: chat_url.trim_end_matches('/').to_string(),
            internal_token,
        })
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
            .header(INTERNAL_TOKEN_HEADER, self.internal_token.expose_secret())
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
