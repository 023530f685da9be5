//! `action.send_message` and `action.tag_conversation`: act on the
//! triggering conversation through the chat service's internal API. The
//! execution's chatbot goes with every call, so a workflow can only reach its
//! own chatbot's conversations, whatever its trigger data says.

use echoflow_service_kit::InternalClient;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

use super::context::{NodeError, StepScope};

#[derive(Clone)]
pub struct ChatNode {
    client: InternalClient,
    chat_url: String,
}

impl ChatNode {
    pub fn new(chat_url: &str, internal_token: SecretString) -> Result<Self, reqwest::Error> {
        let client = InternalClient::builder(Duration::from_secs(3), Duration::from_secs(15))
            .service_token(internal_token)
            .build()?;
        Ok(Self {
            client,
            chat_url: chat_url.trim_end_matches('/').to_string(),
        })
    }

    /// Posts the rendered `text` into the conversation; the step key makes
    /// a retried or replayed step post once.
    pub async fn send_message(
        &self,
        input: &Value,
        ctx: &Value,
        step: &StepScope<'_>,
    ) -> Result<Value, NodeError> {
        let session = session_of(input, ctx)?;
        let text = match input.get("text") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        if text.trim().is_empty() {
            return Err(NodeError::Permanent("text is empty after rendering".into()));
        }
        let body =
            json!({"chatbot_id": step.chatbot_id, "text": text, "idempotency_key": step.key});
        let answer = self
            .post(&format!("conversations/{session}/messages"), &body)
            .await?;
        Ok(json!({
            "message_id": answer.get("message_id").cloned().unwrap_or(Value::Null),
            "session_id": session,
            "text": text,
        }))
    }

    /// Sets a tag on the conversation, for the message that triggered the run.
    pub async fn tag_conversation(
        &self,
        input: &Value,
        ctx: &Value,
        step: &StepScope<'_>,
    ) -> Result<Value, NodeError> {
        let session = session_of(input, ctx)?;
        let tag = input
            .get("tag")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| NodeError::Permanent("tag is empty after rendering".into()))?;
        let message_id = ctx["trigger"]["data"]["message_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok());
        let body = json!({"chatbot_id": step.chatbot_id, "tag": tag, "message_id": message_id});
        let answer = self
            .post(&format!("conversations/{session}/tags"), &body)
            .await?;
        Ok(json!({
            "session_id": session,
            "tag": tag,
            "tags": answer.get("tags").cloned().unwrap_or(json!([])),
        }))
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, NodeError> {
        let url = format!("{}/internal/{path}", self.chat_url);
        let response = self
            .client
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(|e| NodeError::Transient(format!("chat service unreachable: {e}")))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string();
        match status.as_u16() {
            404 => Err(NodeError::Permanent(
                "the conversation does not exist or belongs to another chatbot".into(),
            )),
            408 | 429 | 500..=599 => Err(NodeError::Transient(format!(
                "chat service answered {status}: {message}"
            ))),
            _ => Err(NodeError::Permanent(format!(
                "chat service refused the call ({status}): {message}"
            ))),
        }
    }
}

/// The conversation to act on: the node's `session_id` if set, else the
/// triggering conversation's.
fn session_of(input: &Value, ctx: &Value) -> Result<Uuid, NodeError> {
    let raw = input
        .get("session_id")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| ctx["trigger"]["data"]["session_id"].as_str());
    match raw {
        Some(s) => Uuid::parse_str(s.trim()).map_err(|_| {
            NodeError::Permanent(format!("session_id '{s}' is not a conversation id"))
        }),
        None => Err(NodeError::Permanent(
            "no conversation: the trigger is not a conversation event and no session_id is set"
                .into(),
        )),
    }
}
