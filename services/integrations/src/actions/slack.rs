//! `slack_post_message`: `POST {api}/chat.postMessage`.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::input::{object, optional_str, required_str, url_with};
use crate::calls::ProviderRequest;
use crate::error::{Error, invalid};

#[derive(Debug, Clone)]
pub struct PostMessage {
    channel: String,
    text: Option<String>,
    blocks: Option<Vec<Value>>,
    thread_ts: Option<String>,
}

impl PostMessage {
    pub fn parse(input: &Value) -> Result<Self, Error> {
        let input = object(input)?;
        let channel = required_str(input, "channel")?;
        let text = optional_str(input, "text")?;
        let blocks = match input.get("blocks") {
            None | Some(Value::Null) => None,
            Some(Value::Array(b)) if b.is_empty() => None,
            Some(Value::Array(b)) => Some(b.clone()),
            Some(_) => return Err(invalid("input.blocks", "must be an array of blocks")),
        };
        if text.is_none() && blocks.is_none() {
            return Err(invalid("input.text", "is required unless blocks are given"));
        }
        if text.as_ref().is_some_and(|t| t.chars().count() > 40_000) {
            return Err(invalid("input.text", "must be at most 40000 characters"));
        }
        Ok(Self {
            channel,
            text,
            blocks,
            thread_ts: optional_str(input, "thread_ts")?,
        })
    }

    pub fn request(&self, base: url::Url) -> ProviderRequest {
        let mut body = Map::new();
        body.insert("channel".into(), json!(self.channel));
        if let Some(text) = &self.text {
            body.insert("text".into(), json!(text));
        }
        if let Some(blocks) = &self.blocks {
            body.insert("blocks".into(), json!(blocks));
        }
        if let Some(ts) = &self.thread_ts {
            body.insert("thread_ts".into(), json!(ts));
        }
        ProviderRequest {
            method: Method::POST,
            url: url_with(base, &["chat.postMessage"]),
            body: Some(Value::Object(body)),
        }
    }
}

pub fn output(answer: Value) -> Value {
    json!({
        "ok": answer.get("ok").and_then(Value::as_bool).unwrap_or(true),
        "channel": answer.get("channel").cloned().unwrap_or(Value::Null),
        "ts": answer.get("ts").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_is_required_and_text_unless_blocks() {
        let err = PostMessage::parse(&json!({"text": "hi"})).unwrap_err();
        assert_eq!(err.body()["error"]["details"]["path"], "input.channel");
        let err = PostMessage::parse(&json!({"channel": "C1"})).unwrap_err();
        assert_eq!(err.body()["error"]["details"]["path"], "input.text");
        let ok = PostMessage::parse(&json!({"channel": "C1", "blocks": [{"type": "divider"}]}));
        assert!(ok.is_ok());
        let req = PostMessage::parse(&json!({"channel": "C1", "text": "hi", "thread_ts": "1.2"}))
            .unwrap()
            .request(url::Url::parse("http://127.0.0.1:9/api").unwrap());
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/api/chat.postMessage");
        assert_eq!(
            req.body.unwrap(),
            json!({"channel": "C1", "text": "hi", "thread_ts": "1.2"})
        );
    }
}
