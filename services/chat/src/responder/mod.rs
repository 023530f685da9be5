//! Answers a chat message: an OpenAI-compatible provider given the memory
//! window and the best-matching FAQ entries, or the built-in responder (the
//! best FAQ answer above a confidence, else the fallback message). A provider
//! that fails or times out degrades to the built-in responder, so the end
//! user always gets an answer.

mod provider;

use echoflow_nlp::retrieval::{FaqHit, FaqIndex};
use serde::Serialize;
use utoipa::ToSchema;

pub use provider::{Provider, ProviderError, Turn};

use crate::chatbot::{ChatbotSettings, ResponderKind};
use crate::store::messages;

/// FAQ entries given to the provider as context.
const FAQ_CONTEXT_ENTRIES: usize = 3;

/// Where a reply came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplySource {
    Llm,
    Faq,
    Fallback,
}

impl ReplySource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplySource::Llm => "llm",
            ReplySource::Faq => "faq",
            ReplySource::Fallback => "fallback",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub source: ReplySource,
}

/// What one reply is built from.
pub struct Prompt<'a> {
    pub settings: &'a ChatbotSettings,
    pub faqs: &'a FaqIndex,
    /// The conversation so far, oldest first (the memory window).
    pub memory: &'a [messages::Model],
    pub message: &'a str,
}

#[derive(Clone)]
pub struct Responder {
    provider: Option<Provider>,
    fallback_message: String,
}

impl Responder {
    pub fn new(provider: Option<Provider>, fallback_message: String) -> Self {
        Self {
            provider,
            fallback_message,
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn reply(&self, prompt: &Prompt<'_>) -> Reply {
        let wants_provider = prompt.settings.responder.unwrap_or_default() == ResponderKind::Auto;
        if let (true, Some(provider)) = (wants_provider, &self.provider) {
            let context = prompt.faqs.search(prompt.message, FAQ_CONTEXT_ENTRIES);
            let turns = memory_turns(prompt.memory);
            match provider
                .complete(prompt.settings, &context, &turns, prompt.message)
                .await
            {
                Ok(text) => {
                    return Reply {
                        text,
                        source: ReplySource::Llm,
                    };
                }
                Err(e) => {
                    metrics::counter!("echoflow_chat_provider_failures_total").increment(1);
                    tracing::warn!(error = %e, "provider failed; answering with the built-in responder");
                }
            }
        }
        self.builtin(prompt)
    }

    /// The best FAQ answer if it is confident enough, else the fallback message.
    pub fn builtin(&self, prompt: &Prompt<'_>) -> Reply {
        let min = prompt
            .settings
            .faq_min_confidence
            .unwrap_or(echoflow_nlp::retrieval::DEFAULT_MIN_CONFIDENCE);
        match prompt.faqs.best_answer(prompt.message, min) {
            Some(FaqHit { answer, .. }) => Reply {
                text: answer,
                source: ReplySource::Faq,
            },
            None => Reply {
                text: prompt
                    .settings
                    .fallback_message
                    .clone()
                    .unwrap_or_else(|| self.fallback_message.clone()),
                source: ReplySource::Fallback,
            },
        }
    }
}

fn memory_turns(memory: &[messages::Model]) -> Vec<Turn> {
    memory
        .iter()
        .map(|m| Turn {
            role: if m.role == messages::ROLE_USER {
                "user"
            } else {
                "assistant"
            },
            content: m.content.clone(),
        })
        .collect()
}
