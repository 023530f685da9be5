//! Routes the rest of the public API to the service that owns it.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::header, web};
use echoflow_service_kit::ApiError;
use echoflow_service_kit::internal_client::{InternalClient, with_trace_context};
use std::time::Duration;

/// Where each part of the API lives.
#[derive(Clone)]
pub struct Upstreams {
    pub registry: String,
    pub executor: String,
    pub chat: String,
    pub integrations: String,
    /// Without the service token: the proxy relays outside callers, with their credentials.
    pub client: InternalClient,
}

impl Upstreams {
    pub fn new(
        registry: &str,
        executor: &str,
        chat: &str,
        integrations: &str,
    ) -> Result<Self, reqwest::Error> {
        let client = InternalClient::builder(Duration::from_secs(5), Duration::from_secs(60))
            // Ends a stream whose upstream went silent (they send keep-alives far more often).
            .read_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .no_redirects()
            .build()?;
        Ok(Self {
            registry: registry.trim_end_matches('/').to_string(),
            executor: executor.trim_end_matches('/').to_string(),
            chat: chat.trim_end_matches('/').to_string(),
            integrations: integrations.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// The base URL of the service owning `path`, if any.
    pub fn owner_of(&self, path: &str) -> Option<&str> {
        const REGISTRY: [&str; 6] = [
            "/api/v1/workflows",
            "/api/v1/events",
            "/api/v1/audit-log",
            "/api/v1/node-types",
            "/api/v1/templates",
            "/hooks/",
        ];
        const EXECUTOR: [&str; 2] = ["/api/v1/executions", "/api/v1/dead-letters"];
        const CHAT: [&str; 3] = ["/api/v1/chatbots", "/api/v1/chat", "/api/v1/conversations"];
        let matches = |prefix: &&str| {
            path == prefix.trim_end_matches('/')
                || path.starts_with(prefix)
                    && (prefix.ends_with('/') || path[prefix.len()..].starts_with(['/', '?']))
        };
        if REGISTRY.iter().any(matches) {
            Some(&self.registry)
        } else if EXECUTOR.iter().any(matches) {
            Some(&self.executor)
        } else if CHAT.iter().any(matches) {
            Some(&self.chat)
        } else if matches(&"/api/v1/integrations") {
            Some(&self.integrations)
        } else {
            None
        }
    }
}

/// Headers that belong to one hop and are never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A raw body that could not be read, in the API's error body (actix's own
/// answer to an oversized raw body is plain text).
fn body_error(err: actix_web::Error) -> ApiError {
    use actix_web::error::PayloadError;
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::new(
            echoflow_service_kit::ErrorCode::PayloadTooLarge,
            "the body is larger than the service accepts",
        ),
        _ => ApiError::new(
            echoflow_service_kit::ErrorCode::BadRequest,
            format!("the body could not be read: {err}"),
        ),
    }
}

/// The URL as the client will send it (normalised), refused unless it still
/// belongs to `base`'s public API: whatever the path held, an outside request
/// never reaches a service's `/internal` routes.
fn upstream_url(upstreams: &Upstreams, base: &str, url: &str) -> Result<reqwest::Url, ApiError> {
    let refused = || {
        ApiError::new(
            echoflow_service_kit::ErrorCode::BadRequest,
            "the path does not name a public route",
        )
        .with_details(serde_json::json!({"field": "path"}))
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| refused())?;
    let base_path = reqwest::Url::parse(base)
        .map(|b| b.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let path = parsed
        .path()
        .strip_prefix(base_path.as_str())
        .ok_or_else(refused)?;
    if path.starts_with("/internal") || upstreams.owner_of(path) != Some(base) {
        return Err(refused());
    }
    Ok(parsed)
}

/// How long a proxied server-sent event stream may last; its client then reconnects.
const STREAM_MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

fn accepts_event_stream(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

/// An upstream's server-sent events, passed on chunk by chunk as they arrive
/// (a buffered body would never arrive); it ends when the upstream's does,
/// and dropping it (the client left) closes the upstream connection.
fn relayed_stream(
    response: reqwest::Response,
) -> impl futures::Stream<Item = Result<web::Bytes, reqwest::Error>> + 'static {
    futures::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(error = %error, "an upstream event stream ended with an error");
                Some((Err(error), None))
            }
        }
    })
}

/// Takes `?session_token=` and `?chatbot_key=` out of every URI before the
/// access log sees it; on a chat session stream (`/api/v1/chat/sessions/{id}/stream`,
/// for `EventSource`, which cannot send headers) they become the
/// `X-Session-Token` and `X-Chatbot-Key` headers the chat service checks.
pub fn lift_session_stream_credentials(req: &mut actix_web::dev::ServiceRequest) {
    let accepted = req
        .path()
        .strip_prefix("/api/v1/chat/sessions/")
        .and_then(|rest| rest.strip_suffix("/stream"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    echoflow_service_kit::query_credentials::lift(
        req,
        &[
            ("session_token", "x-session-token"),
            ("chatbot_key", "x-chatbot-key"),
        ],
        accepted,
    );
}

/// The default service: forwards the request to its owner, or answers 404.
#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.path()))]
pub async fn forward(
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    upstreams: web::Data<Upstreams>,
) -> Result<HttpResponse, ApiError> {
    if let Some(not_allowed) =
        crate::openapi::OWN_PATHS.method_not_allowed(req.method(), req.path())
    {
        return Ok(not_allowed);
    }
    let body = body.map_err(body_error)?;
    let Some(base) = upstreams.owner_of(req.path()) else {
        return Err(ApiError::not_found("route"));
    };
    let url = match req.uri().path_and_query() {
        Some(pq) => format!("{base}{pq}"),
        None => format!("{base}{}", req.path()),
    };
    let url = upstream_url(&upstreams, base, &url)?;
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::new(echoflow_service_kit::ErrorCode::BadRequest, "bad method"))?;
    let mut outgoing = upstreams.client.relay(method, url);
    for (name, value) in req.headers() {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower) || lower == "host" || lower == "content-length" {
            continue;
        }
        outgoing = outgoing.header(name.as_str(), value.as_bytes());
    }
    if let Some(peer) = req.peer_addr() {
        outgoing = outgoing.header("x-forwarded-for", peer.ip().to_string());
    }
    // The upstream sees its own address as Host; the caller's is kept here.
    let (host, scheme) = {
        let info = req.connection_info();
        (info.host().to_string(), info.scheme().to_string())
    };
    outgoing = outgoing
        .header("x-forwarded-host", host)
        .header("x-forwarded-proto", scheme);
    // A client that asks for server-sent events may stay as long as the upstream streams.
    if accepts_event_stream(&req) {
        outgoing = outgoing.timeout(STREAM_MAX_LIFETIME);
    }
    let outgoing = with_trace_context(outgoing);
    let response = outgoing.body(body).send().await.map_err(|e| {
        tracing::warn!(error = %e, upstream = %base, "upstream unreachable");
        ApiError::unavailable("the service behind this route is unavailable; try again shortly")
    })?;
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .map_err(ApiError::internal)?;
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) || name.as_str() == "content-length" {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_str().as_bytes()),
            header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((n, v));
        }
    }
    if is_event_stream(&response) {
        req.extensions_mut().insert(crate::cors::Relayed);
        return Ok(builder.streaming(relayed_stream(response)));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ApiError::unavailable(format!("the upstream response was cut off: {e}")))?;
    // The upstream answered: its CORS headers are the answer's (see crate::cors).
    req.extensions_mut().insert(crate::cors::Relayed);
    Ok(builder.body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_each_prefix_to_its_owner() {
        let u = Upstreams::new("http://r", "http://e", "http://c", "http://i").unwrap();
        assert_eq!(u.owner_of("/api/v1/workflows"), Some("http://r"));
        assert_eq!(
            u.owner_of("/api/v1/workflows/abc/execute"),
            Some("http://r")
        );
        assert_eq!(u.owner_of("/hooks/tok"), Some("http://r"));
        assert_eq!(u.owner_of("/api/v1/executions/x"), Some("http://e"));
        assert_eq!(u.owner_of("/api/v1/events"), Some("http://r"));
        assert_eq!(u.owner_of("/api/v1/chat"), Some("http://c"));
        assert_eq!(u.owner_of("/api/v1/chatbots/b/faqs"), Some("http://c"));
        assert_eq!(
            u.owner_of("/api/v1/conversations/s/messages"),
            Some("http://c")
        );
        assert_eq!(
            u.owner_of("/api/v1/integrations/slack/callback?code=c&state=s"),
            Some("http://i")
        );
        assert_eq!(u.owner_of("/api/v1/integrations"), Some("http://i"));
        assert_eq!(u.owner_of("/api/v1/integrationsx"), None);
        assert_eq!(u.owner_of("/api/v1/chatter"), None);
        assert_eq!(u.owner_of("/api/v1/workflowsx"), None);
        assert_eq!(u.owner_of("/api/v1/unknown"), None);
    }

    #[test]
    fn a_url_that_normalises_out_of_its_service_public_prefix_is_refused() {
        let u = Upstreams::new("http://r", "http://e", "http://c/base", "http://i").unwrap();
        for url in [
            "http://c/base/api/v1/chatbots/../../../internal/chatbots/x",
            "http://c/base/api/v1/chatbots/%2e%2e/%2e%2e/%2e%2e/internal/x",
            "http://c/base/api/v1/chatbots/../../workflows",
            "http://c/internal/chatbots/x",
        ] {
            assert!(upstream_url(&u, "http://c/base", url).is_err(), "{url}");
        }
        let kept =
            upstream_url(&u, "http://c/base", "http://c/base/api/v1/chatbots/b?x=1").unwrap();
        assert_eq!(kept.as_str(), "http://c/base/api/v1/chatbots/b?x=1");
    }
}
