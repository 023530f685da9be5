//! `action.respond`: the answer a waiting webhook caller gets. The step
//! checks its rendered config against the rules of an answer (status,
//! headers, body size); its output is the answer, which the step ledger
//! publishes for the registry in the step's own commit (`responses.rs`).

use echoflow_domain::respond::Reply;
use serde_json::{Value, json};

use super::context::NodeError;

/// The answer `input` (the node's rendered config) gives: `{status, headers, body}`.
/// A rule it breaks fails the step for good: another attempt would break it again.
pub fn reply(input: &Value) -> Result<Value, NodeError> {
    let reply = Reply::from_rendered(input).map_err(NodeError::Permanent)?;
    Ok(json!({
        "status": reply.status,
        "headers": reply.headers,
        "body": reply.body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_its_checked_status_headers_and_body() {
        let out = reply(&json!({"status": 201, "headers": {"X-Id": "7"}, "body": "made"})).unwrap();
        assert_eq!(
            out,
            json!({"status": 201, "headers": {"X-Id": "7"}, "body": "made"})
        );
        let defaults = reply(&json!({})).unwrap();
        assert_eq!(
            defaults,
            json!({"status": 200, "headers": {}, "body": null})
        );
        let bad = reply(&json!({"headers": {"X-Id": "a\r\nSet-Cookie: s=1"}})).unwrap_err();
        assert_eq!(bad.class(), "configuration");
    }
}
