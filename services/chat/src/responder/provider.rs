//! An OpenAI-compatible chat-completions provider (OpenAI, Ollama, vLLM,
//! llama.cpp server all speak it).

use echoflow_nlp::retrieval::FaqHit;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

use crate::chatbot::ChatbotSettings;

const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful, concise customer-service assistant. \
Answer from the FAQ entries below when they cover the question; if you do not know, say so \
and offer to have a person follow up.";

/// One earlier message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("provider unreachable or too slow: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("provider answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("provider answer has no message content")]
    NoContent,
}

#[derive(Clone)]
pub struct Provider {
    client: reqwest::Client,
    completions_url: String,
    model: String,
    api_key: SecretString,
}

impl Provider {
    /// None when no base URL is configured: the built-in responder answers alone.
    pub fn from_settings(
        base_url: &str,
        model: &str,
        api_key: SecretString,
        timeout: Duration,
    ) -> Result<Option<Self>, reqwest::Error> {
        let base = base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()?;
        Ok(Some(Self {
            client,
            completions_url: format!("{base}/chat/completions"),
            model: model.to_string(),
            api_key,
        }))
    }

    /// The request body: system prompt with the FAQ context, the memory
    /// window, then the new message.
    pub fn request_body(
        &self,
        settings: &ChatbotSettings,
        faqs: &[FaqHit],
        memory: &[Turn],
        message: &str,
    ) -> Value {
        let mut system = settings
            .system_prompt
            .clone()
            .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_string());
        if !faqs.is_empty() {
            system.push_str("\n\nFAQ entries:");
            for hit in faqs {
                system.push_str(&format!("\nQ: {}\nA: {}", hit.question, hit.answer));
            }
        }
        let mut messages = vec![json!({"role": "system", "content": system})];
        messages.extend(
            memory
                .iter()
                .map(|t| json!({"role": t.role, "content": t.content})),
        );
        messages.push(json!({"role": "user", "content": message}));
        let mut body = json!({
            "model": settings.model.clone().unwrap_or_else(|| self.model.clone()),
            "messages": messages,
        });
        if let Some(t) = settings.temperature {
            body["temperature"] = json!(t);
        }
        body
    }

    #[tracing::instrument(skip_all, fields(url = %self.completions_url))]
    pub async fn complete(
        &self,
        settings: &ChatbotSettings,
        faqs: &[FaqHit],
        memory: &[Turn],
        message: &str,
    ) -> Result<String, ProviderError> {
        let mut request = self
            .client
            .post(&self.completions_url)
            .json(&self.request_body(settings, faqs, memory, message));
        let key = self.api_key.expose_secret();
        if !key.is_empty() {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let body: String = response.text().await.unwrap_or_default();
            return Err(ProviderError::Status {
                status: status.as_u16(),
                body: body.chars().take(300).collect(),
            });
        }
        let answer: Value = response.json().await?;
        answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(ProviderError::NoContent)
    }
}
