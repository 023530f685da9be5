//! `action.http_request`: one HTTP call, guarded by the network policy at
//! every address it resolves to (also after redirects), with a bounded body.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Map, Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::context::NodeError;
use super::network::NetworkPolicy;

#[derive(Clone)]
pub struct HttpNode {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    default_timeout: Duration,
    /// Largest response body read (the step output limit).
    max_body_bytes: usize,
}

/// Resolves names and keeps only the addresses the policy permits, so a
/// name cannot smuggle a request to an internal address.
struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(format!(
                    "{host} resolves only to addresses this executor may not reach"
                )
                .into());
            }
            let iter: Addrs = Box::new(permitted.into_iter());
            Ok(iter)
        })
    }
}

impl HttpNode {
    pub fn new(
        policy: NetworkPolicy,
        default_timeout: Duration,
        max_body_bytes: usize,
    ) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let redirect_policy = policy.clone();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("too many redirects");
                }
                match literal_ip(attempt.url()) {
                    Some(ip) if !redirect_policy.permits(ip) => {
                        attempt.error("redirect to an address this executor may not reach")
                    }
                    _ => attempt.follow(),
                }
            }))
            // A proxy would resolve names itself, out of the guard's sight.
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("echoflow/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy,
            default_timeout,
            max_body_bytes,
        })
    }

    /// Makes the request described by the resolved config. A 2xx or 3xx
    /// answer is the result (`{status, headers, body}`); a 4xx or 5xx fails
    /// the step by its class, unless `fail_on_error_status: false` makes any
    /// status a result.
    /// `step_key` is sent as `Idempotency-Key` (unless the config sets one),
    /// the same on every attempt, so a receiver can drop a repeated call.
    pub async fn call(&self, config: &Value, step_key: &str) -> Result<Value, NodeError> {
        let method = config
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| NodeError::Permanent(format!("unknown method {method}")))?;
        let raw_url = config
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| NodeError::Permanent("url must be a string".into()))?;
        let url = reqwest::Url::parse(raw_url)
            .map_err(|e| NodeError::Permanent(format!("invalid url {raw_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NodeError::Permanent("url must be http or https".into()));
        }
        if let Some(ip) = literal_ip(&url)
            && !self.policy.permits(ip)
        {
            // Before any connection: a refused literal address is never dialled.
            return Err(NodeError::Permanent(self.policy.refusal(ip)));
        }
        let timeout = config
            .get("timeout_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis)
            .unwrap_or(self.default_timeout);
        let mut request = self.client.request(method, url).timeout(timeout);
        let headers = config.get("headers").and_then(Value::as_object);
        if let Some(headers) = headers {
            for (name, value) in headers {
                request = request.header(name, as_text(value));
            }
        }
        if !headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("idempotency-key"))) {
            request = request.header("idempotency-key", step_key);
        }
        if let Some(query) = config.get("query").and_then(Value::as_object) {
            let pairs: Vec<(String, String)> =
                query.iter().map(|(k, v)| (k.clone(), as_text(v))).collect();
            request = request.query(&pairs);
        }
        match config.get("body") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => request = request.body(s.clone()),
            Some(other) => request = request.json(other),
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers: Map<String, Value> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), json!(v))))
            .collect();
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(NodeError::Permanent(format!(
                    "the response body is larger than {} bytes (executor.max_output_bytes)",
                    self.max_body_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let body = if is_json {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        } else if body.is_empty() {
            Value::Null
        } else {
            Value::String(String::from_utf8_lossy(&body).into_owned())
        };
        let result = json!({"status": status, "headers": headers, "body": body});
        let fail_on_error = config
            .get("fail_on_error_status")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if status >= 400 && fail_on_error {
            return Err(status_error(status, &result));
        }
        Ok(result)
    }
}

/// A 4xx or 5xx answer as an error of its class: 408 and 5xx transient,
/// 429 rate limited (with its `Retry-After`), any other 4xx configuration.
fn status_error(status: u16, result: &Value) -> NodeError {
    let body = match &result["body"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let snippet: String = body.chars().take(300).collect();
    let message = if snippet.is_empty() {
        format!("the server answered {status}")
    } else {
        format!("the server answered {status}: {snippet}")
    };
    match status {
        429 => NodeError::RateLimited {
            message,
            retry_after: result["headers"]["retry-after"]
                .as_str()
                .and_then(parse_retry_after),
        },
        408 | 500..=599 => NodeError::Transient(message),
        _ => NodeError::Permanent(message),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

fn transport_error(e: reqwest::Error) -> NodeError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    // The network guard refused an address (after DNS or at a redirect):
    // trying again would be refused again.
    if message.contains("may not reach") {
        return NodeError::Permanent(message);
    }
    NodeError::Transient(message)
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
