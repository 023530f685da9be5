//! Synchronous webhooks: whether a `trigger.webhook` caller waits for the
//! workflow (`respond`), and the rules of the answer an `action.respond`
//! node gives (status, headers, body). The registry checks them when a
//! workflow is saved, the executor when the node runs, and the registry
//! again when it answers, so a caller never receives what the rules refuse.

use serde_json::{Map, Value};

use crate::fault::GraphFault;
use crate::kind::NodeKind;
use crate::{expr, path};

/// How a webhook call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RespondMode {
    /// 202 with the execution id once the run is queued (the default).
    #[default]
    Immediately,
    /// The caller waits for the workflow's answer: its `action.respond`
    /// step, or the end of the run, or the timeout (then 202).
    WhenFinished,
}

impl RespondMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            RespondMode::Immediately => "immediately",
            RespondMode::WhenFinished => "when_finished",
        }
    }

    /// The mode a webhook trigger's config sets; absent or unknown is the default.
    pub fn of_config(config: &Value) -> Self {
        match config.get("respond").and_then(Value::as_str) {
            Some("when_finished") => RespondMode::WhenFinished,
            _ => RespondMode::Immediately,
        }
    }
}

/// How long a caller waits when the trigger does not say.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 30;
/// The most a trigger may ask for; the registry caps it further
/// (`registry.webhook_respond_max_secs`).
pub const MAX_TIMEOUT_SECONDS: i64 = 300;
/// The statuses an answer may have: no 1xx, which is no final answer.
pub const MIN_STATUS: u16 = 200;
pub const MAX_STATUS: u16 = 599;
/// The largest body, in bytes as sent (a JSON body serialised, a string as is).
pub const MAX_BODY_BYTES: usize = 262_144;
/// The most headers one answer sets.
pub const MAX_HEADERS: usize = 32;
/// The longest header value, in bytes.
pub const MAX_HEADER_VALUE_BYTES: usize = 8_192;

/// Headers an answer may not set. Hop-by-hop headers and `Content-Length`
/// belong to the connection, which the server (and the gateway in front)
/// manages. `Set-Cookie` is refused because the webhook URL is served from
/// echoflow's own host: a workflow's cookie would land on the host every
/// user's dashboard and API share (cookie tossing across tenants).
const REFUSED_HEADERS: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "set-cookie",
];
/// echoflow's own headers (`X-Echoflow-Execution-Id`) cannot be forged.
const RESERVED_PREFIX: &str = "x-echoflow-";
/// The answer is served from echoflow's own origin, so what would let a page
/// there run or be read cross-origin stays echoflow's: every answer is sent with
/// `Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff`
/// (see [`SECURITY_HEADERS`]), which a workflow may not replace, and CORS is the
/// gateway's (`Access-Control-*`); `Refresh` would be a redirect the browser
/// follows without a 3xx.
const GUARDED_HEADERS: [&str; 4] = [
    "content-security-policy",
    "content-security-policy-report-only",
    "x-content-type-options",
    "refresh",
];
const CORS_PREFIX: &str = "access-control-";

/// Sent with every answer of a synchronous webhook: a page a workflow answers
/// runs sandboxed (an opaque origin: no access to echoflow's origin, its
/// storage or its API), and browsers do not sniff another type than the one given.
pub const SECURITY_HEADERS: [(&str, &str); 2] = [
    ("content-security-policy", "sandbox"),
    ("x-content-type-options", "nosniff"),
];

/// Why a header name may not be set, if it may not.
pub fn check_header_name(name: &str) -> Result<(), String> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(is_token_char) {
        return Err(format!("'{name}' is not a valid header name"));
    }
    let lower = name.to_ascii_lowercase();
    if REFUSED_HEADERS.contains(&lower.as_str()) {
        return Err(format!(
            "the {name} header cannot be set by a workflow (hop-by-hop, computed, or Set-Cookie)"
        ));
    }
    if GUARDED_HEADERS.contains(&lower.as_str()) || lower.starts_with(CORS_PREFIX) {
        return Err(format!(
            "the {name} header cannot be set by a workflow: answers are served from echoflow's own origin, which sets it"
        ));
    }
    if lower.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "headers starting with X-Echoflow- are echoflow's own ({name})"
        ));
    }
    Ok(())
}

/// Why a header value may not be sent, if it may not: no control
/// characters (a CR or LF would split the answer), bounded length.
pub fn check_header_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return Err(format!(
            "a header value is {} bytes, over the limit of {MAX_HEADER_VALUE_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("a header value may not contain control characters (CR, LF, ...)".into());
    }
    Ok(())
}

/// The status, when it is one an answer may have.
pub fn check_status(status: i64) -> Result<u16, String> {
    u16::try_from(status)
        .ok()
        .filter(|s| (MIN_STATUS..=MAX_STATUS).contains(s))
        .ok_or_else(|| format!("the status must be from {MIN_STATUS} to {MAX_STATUS}"))
}

/// An `action.respond` answer, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Map<String, Value>,
    /// None: no body. A string is sent as text, anything else as JSON.
    pub body: Option<Value>,
}

impl Reply {
    /// The answer an `action.respond` step's rendered config gives, or why
    /// it cannot be given.
    pub fn from_rendered(config: &Value) -> Result<Self, String> {
        let status = match config.get("status") {
            None | Some(Value::Null) => 200,
            Some(v) => check_status(v.as_i64().ok_or("the status must be a whole number")?)?,
        };
        let headers = match config.get("headers") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(h)) => h.clone(),
            Some(_) => return Err("headers must be an object of strings".into()),
        };
        check_headers(&headers)?;
        let body = config.get("body").filter(|b| !b.is_null()).cloned();
        let reply = Self {
            status,
            headers,
            body,
        };
        let size = reply.body_bytes().len();
        if size > MAX_BODY_BYTES {
            return Err(format!(
                "the body is {size} bytes, over the limit of {MAX_BODY_BYTES}"
            ));
        }
        Ok(reply)
    }

    /// The body as sent: a string as is, other JSON serialised, none empty.
    pub fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            None => Vec::new(),
            Some(Value::String(text)) => text.clone().into_bytes(),
            Some(other) => serde_json::to_vec(other).unwrap_or_default(),
        }
    }

    /// The content type the body is sent with when the headers set none.
    pub fn default_content_type(&self) -> Option<&'static str> {
        match &self.body {
            None => None,
            Some(Value::String(_)) => Some("text/plain; charset=utf-8"),
            Some(_) => Some("application/json"),
        }
    }
}

/// Every header as an answer may carry it.
pub fn check_headers(headers: &Map<String, Value>) -> Result<(), String> {
    if headers.len() > MAX_HEADERS {
        return Err(format!("at most {MAX_HEADERS} headers"));
    }
    for (name, value) in headers {
        check_header_name(name)?;
        let value = value
            .as_str()
            .ok_or_else(|| format!("the {name} header's value must be a string"))?;
        check_header_value(value)?;
    }
    Ok(())
}

/// What a saved `action.respond` config breaks of the rules that do not
/// wait for its expressions: header names, literal header values.
pub fn config_faults(config: &Value, at: &str) -> Vec<GraphFault> {
    let Some(headers) = config.get("headers").and_then(Value::as_object) else {
        return Vec::new();
    };
    let headers_at = path::key(at, "headers");
    let mut faults = Vec::new();
    if headers.len() > MAX_HEADERS {
        faults.push(GraphFault::new(
            &headers_at,
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    for (name, value) in headers {
        let here = path::key(&headers_at, name);
        if let Err(message) = check_header_name(name) {
            faults.push(GraphFault::new(&here, message));
        } else if let Some(value) = value.as_str()
            && !expr::is_templated(value)
            && let Err(message) = check_header_value(value)
        {
            faults.push(GraphFault::new(&here, message));
        }
    }
    faults
}

/// Why `action.respond` may not be in a workflow with this trigger (its
/// kind and config), if it may not: only a caller that waits can be answered.
pub fn misplaced(trigger: Option<(NodeKind, &Value)>) -> Option<String> {
    match trigger {
        Some((NodeKind::TriggerWebhook, config))
            if RespondMode::of_config(config) == RespondMode::WhenFinished =>
        {
            None
        }
        _ => Some(
            "action.respond answers a waiting webhook caller: the trigger must be a \
             trigger.webhook with respond: when_finished"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_names_refuse_hop_by_hop_cookies_and_echoflow_own() {
        assert!(check_header_name("X-Order-Id").is_ok());
        assert!(check_header_name("Content-Type").is_ok());
        for refused in [
            "Connection",
            "transfer-encoding",
            "Set-Cookie",
            "Content-Length",
            "X-Echoflow-Execution-Id",
            "Content-Security-Policy",
            "x-content-type-options",
            "Access-Control-Allow-Origin",
            "Refresh",
            "bad name",
            "",
        ] {
            assert!(check_header_name(refused).is_err(), "{refused}");
        }
        assert!(check_header_value("a\r\nSet-Cookie: x=1").is_err());
        assert!(check_header_value("tab\tok").is_ok());
    }

    #[test]
    fn a_reply_takes_its_status_headers_and_body_within_bounds() {
        let reply = Reply::from_rendered(&json!({
            "status": 201, "headers": {"X-Id": "7"}, "body": {"ok": true}
        }))
        .unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.body_bytes(), br#"{"ok":true}"#);
        assert_eq!(reply.default_content_type(), Some("application/json"));
        let text = Reply::from_rendered(&json!({"body": "hi"})).unwrap();
        assert_eq!((text.status, text.body_bytes()), (200, b"hi".to_vec()));
        assert_eq!(
            text.default_content_type(),
            Some("text/plain; charset=utf-8")
        );
        assert!(Reply::from_rendered(&json!({"status": 99})).is_err());
        assert!(Reply::from_rendered(&json!({"status": 600})).is_err());
        assert!(Reply::from_rendered(&json!({"headers": {"X-A": "a\nb"}})).is_err());
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        assert!(Reply::from_rendered(&json!({"body": big})).is_err());
    }

    #[test]
    fn respond_nodes_need_a_webhook_that_waits() {
        let waits = json!({"respond": "when_finished"});
        assert_eq!(misplaced(Some((NodeKind::TriggerWebhook, &waits))), None);
        assert!(misplaced(Some((NodeKind::TriggerWebhook, &json!({})))).is_some());
        assert!(misplaced(Some((NodeKind::TriggerManual, &waits))).is_some());
        assert!(misplaced(None).is_some());
    }
}
