//! `action.ai_text`: one chat completion from the operator's OpenAI-compatible
//! provider; with a `schema`, the answer is JSON checked against it.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

use super::context::NodeError;

/// How many schema violations a failed step names.
const MAX_REPORTED_VIOLATIONS: usize = 5;
/// How much of a provider's error body a failed step quotes.
const MAX_QUOTED_BODY: usize = 300;

#[derive(Clone)]
pub struct AiNode {
    client: reqwest::Client,
    /// `{ai_base_url}/chat/completions`; None when no provider is configured.
    completions_url: Option<String>,
    model: String,
    api_key: SecretString,
}

impl AiNode {
    /// The provider URL is operator configuration, not user input, so this
    /// client is not behind the network policy of `action.http_request`.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: SecretString,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let base = base_url.trim().trim_end_matches('/');
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            // A completions API does not redirect; one that does is misconfigured,
            // and following it would carry the prompt somewhere unintended.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("echoflow/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            completions_url: (!base.is_empty()).then(|| format!("{base}/chat/completions")),
            model: model.to_string(),
            api_key,
        })
    }

    /// Runs the node on its resolved config: `{text}` without a schema, the
    /// parsed and validated JSON answer with one.
    pub async fn generate(&self, config: &Value) -> Result<Value, NodeError> {
        let url = self.completions_url.as_deref().ok_or_else(|| {
            NodeError::Permanent(
                "no AI provider is configured: set executor.ai_base_url \
                 (ECHOFLOW_EXECUTOR__AI_BASE_URL) to an OpenAI-compatible API"
                    .into(),
            )
        })?;
        let prompt = prompt_of(config)?;
        let schema = match config.get("schema") {
            None | Some(Value::Null) => None,
            Some(schema) => Some(AnswerSchema::new(schema)?),
        };
        let body = self.request_body(config, &prompt, schema.as_ref());
        let content = self.complete(url, &body).await?;
        match schema {
            None => Ok(json!({"text": content.text})),
            Some(schema) => schema.parse(&content),
        }
    }

    fn request_body(&self, config: &Value, prompt: &str, schema: Option<&AnswerSchema>) -> Value {
        let mut system = config
            .get("system")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string();
        if let Some(schema) = schema {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&schema.instruction());
        }
        let mut messages = Vec::new();
        if !system.is_empty() {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": prompt}));
        let model = config
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
            .unwrap_or(&self.model);
        let mut body = json!({"model": model, "messages": messages});
        for key in ["temperature", "max_tokens"] {
            if let Some(value) = config.get(key).filter(|v| v.is_number()) {
                body[key] = value.clone();
            }
        }
        if schema.is_some_and(AnswerSchema::wants_object) {
            body["response_format"] = json!({"type": "json_object"});
        }
        body
    }

    #[tracing::instrument(skip_all, fields(url = %url))]
    async fn complete(&self, url: &str, body: &Value) -> Result<Completion, NodeError> {
        let mut request = self.client.post(url).json(body);
        let key = self.api_key.expose_secret();
        if !key.is_empty() {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(response).await);
        }
        let answer: Value = response.json().await.map_err(|e| {
            NodeError::Transient(format!("the AI provider's answer is not JSON: {e}"))
        })?;
        let choice = &answer["choices"][0];
        let text = choice["message"]["content"]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                NodeError::Transient(format!(
                    "the AI provider's answer has no message content (finish_reason: {})",
                    choice["finish_reason"]
                ))
            })?;
        Ok(Completion {
            text: text.to_string(),
            truncated: choice["finish_reason"] == "length",
        })
    }
}

struct Completion {
    text: String,
    /// The model stopped at `max_tokens`: a JSON answer is likely cut off.
    truncated: bool,
}

/// The prompt as rendered; an expression that gave a non-string is sent as JSON.
fn prompt_of(config: &Value) -> Result<String, NodeError> {
    let prompt = match config.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    if prompt.trim().is_empty() {
        return Err(NodeError::Permanent("prompt is empty".into()));
    }
    Ok(prompt)
}

/// The JSON Schema an answer must match.
struct AnswerSchema {
    schema: Value,
    validator: jsonschema::Validator,
}

impl AnswerSchema {
    fn new(schema: &Value) -> Result<Self, NodeError> {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| NodeError::Permanent(format!("schema is not a valid JSON Schema: {e}")))?;
        Ok(Self {
            schema: schema.clone(),
            validator,
        })
    }

    /// The provider's JSON mode only produces objects: ask for it unless the
    /// schema wants another top-level type.
    fn wants_object(&self) -> bool {
        match self.schema.get("type") {
            None => true,
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
            Some(_) => false,
        }
    }

    fn instruction(&self) -> String {
        format!(
            "Answer with JSON only: a single JSON value, without prose or code fences, \
             that matches this JSON Schema:\n{}",
            self.schema
        )
    }

    /// A model may answer badly once and well the next time, so a bad answer
    /// is transient.
    fn parse(&self, completion: &Completion) -> Result<Value, NodeError> {
        let value = parse_json_answer(&completion.text).map_err(|e| {
            let hint = if completion.truncated {
                " (the answer was cut off at max_tokens)"
            } else {
                ""
            };
            NodeError::Transient(format!("the model's answer is not valid JSON{hint}: {e}"))
        })?;
        let violations: Vec<String> = self
            .validator
            .iter_errors(&value)
            .take(MAX_REPORTED_VIOLATIONS)
            .map(|error| {
                let at = error.instance_path.as_str();
                let at = if at.is_empty() { "/" } else { at };
                format!("at {at}: {error}")
            })
            .collect();
        if !violations.is_empty() {
            return Err(NodeError::Transient(format!(
                "the model's answer does not match the schema: {}",
                violations.join("; ")
            )));
        }
        Ok(value)
    }
}

/// The answer as JSON; a model that wrapped it in a ```json fence anyway is
/// forgiven.
fn parse_json_answer(text: &str) -> Result<Value, serde_json::Error> {
    let text = text.trim();
    serde_json::from_str(text).or_else(|whole| match fenced(text) {
        Some(inner) => serde_json::from_str(inner),
        None => Err(whole),
    })
}

/// The content of the first ``` fence, without its `json` info string.
fn fenced(text: &str) -> Option<&str> {
    let (_, after) = text.split_once("```")?;
    let inner = after.split_once("```").map_or(after, |(inner, _)| inner);
    let inner = inner.trim_start();
    let inner = match inner.get(..4) {
        Some(tag) if tag.eq_ignore_ascii_case("json") => &inner[4..],
        _ => inner,
    };
    Some(inner.trim())
}

fn transport_error(e: reqwest::Error) -> NodeError {
    let mut message = format!("the AI provider is unreachable or too slow: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    NodeError::Transient(message)
}

async fn status_error(response: reqwest::Response) -> NodeError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(MAX_QUOTED_BODY)
        .collect();
    classify(status, retry_after.as_deref(), &body)
}

/// Classifies a non-2xx answer: 429 waits (`Retry-After` in seconds when
/// given), 408 and 5xx are transient, a refused key and any other answer are
/// configuration.
fn classify(status: u16, retry_after: Option<&str>, body: &str) -> NodeError {
    let message = format!("the AI provider answered {status}: {body}");
    match status {
        429 => NodeError::RateLimited {
            message,
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        408 | 500..=599 => NodeError::Transient(message),
        401 | 403 => NodeError::Permanent(format!(
            "{message} (check executor.ai_api_key and the provider account)"
        )),
        _ => NodeError::Permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_answer_is_forgiven() {
        for text in [
            "{\"a\": 1}",
            "```json\n{\"a\": 1}\n```",
            "```JSON {\"a\": 1}```",
            "Here you go:\n```\n{\"a\": 1}\n```\nAnything else?",
        ] {
            assert_eq!(parse_json_answer(text).unwrap(), json!({"a": 1}), "{text}");
        }
        assert!(parse_json_answer("sure! a = 1").is_err());
    }

    #[test]
    fn a_fence_inside_a_json_string_is_left_alone() {
        let text = r#"{"code": "```rust\nfn main() {}\n```"}"#;
        assert_eq!(
            parse_json_answer(text).unwrap(),
            json!({"code": "```rust\nfn main() {}\n```"})
        );
    }

    #[test]
    fn json_mode_only_for_object_schemas() {
        let object = AnswerSchema::new(&json!({"type": "object"})).unwrap();
        let untyped = AnswerSchema::new(&json!({"required": ["a"]})).unwrap();
        let array = AnswerSchema::new(&json!({"type": "array"})).unwrap();
        assert!(object.wants_object() && untyped.wants_object());
        assert!(!array.wants_object());
    }

    #[test]
    fn provider_statuses_are_classified() {
        match classify(429, Some("7"), "slow down") {
            NodeError::RateLimited {
                message,
                retry_after,
            } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
                assert!(message.contains("429") && message.contains("slow down"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), ""),
            NodeError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        for status in [408, 500, 502, 503] {
            assert!(matches!(
                classify(status, None, ""),
                NodeError::Transient(_)
            ));
        }
        for status in [301, 400, 401, 403, 404, 422] {
            assert!(matches!(
                classify(status, None, ""),
                NodeError::Permanent(_)
            ));
        }
        assert!(
            classify(403, None, "")
                .to_string()
                .contains("executor.ai_api_key")
        );
    }

    #[test]
    fn an_invalid_schema_is_configuration() {
        let error = AnswerSchema::new(&json!({"type": "no-such-type"}))
            .err()
            .unwrap();
        assert!(matches!(error, NodeError::Permanent(_)), "{error}");
    }
}
