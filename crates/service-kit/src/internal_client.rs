//! The HTTP client of calls from one echoflow service to another: every call
//! carries the service token and the caller's W3C trace context, within the
//! timeouts its call site chose.

use std::time::Duration;

use reqwest::{IntoUrl, Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::INTERNAL_TOKEN_HEADER;

/// How long a client of another echoflow service keeps an idle pooled
/// connection. The services' HTTP servers (actix) close a keep-alive
/// connection after 5 s idle; a client that reused one at that moment would
/// send its request into a closing socket and fail. Dropping idle
/// connections sooner, on the client's side, rules that out.
const POOL_IDLE: Duration = Duration::from_secs(3);

/// A pooled client for one kind of internal call; cheap to clone.
#[derive(Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    token: Option<SecretString>,
}

/// Builds an [`InternalClient`]: the timeouts always, the rest when a call site needs it.
pub struct InternalClientBuilder {
    http: reqwest::ClientBuilder,
    token: Option<SecretString>,
}

impl InternalClient {
    /// A client that gives up connecting after `connect_timeout` and waiting
    /// for the whole answer after `timeout`.
    pub fn builder(connect_timeout: Duration, timeout: Duration) -> InternalClientBuilder {
        InternalClientBuilder {
            http: reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .timeout(timeout)
                .pool_idle_timeout(POOL_IDLE),
            token: None,
        }
    }

    /// A call of this service's own: with the service token (if the client
    /// has one) and the current trace context.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.header(INTERNAL_TOKEN_HEADER, token.expose_secret());
        }
        with_trace_context(request)
    }

    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A request relayed for an outside caller (the gateway's proxy): it
    /// carries the caller's own credentials, never the service token. The
    /// relay copies the caller's headers, then adds [`with_trace_context`]
    /// (after them, as the relay always did).
    pub fn relay(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        self.http.request(method, url)
    }
}

impl InternalClientBuilder {
    /// Calls made with [`InternalClient::request`] present `token` (the
    /// shared `auth.internal_token`) to the services' internal routes.
    pub fn service_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// Keeps up to `max` idle connections per upstream (reqwest keeps any number by default).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.http = self.http.pool_max_idle_per_host(max);
        self
    }

    /// Gives up on an answer (a streamed body too) that sends nothing for `timeout`.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.read_timeout(timeout);
        self
    }

    /// Hands redirects back to the caller instead of following them.
    pub fn no_redirects(mut self) -> Self {
        self.http = self.http.redirect(reqwest::redirect::Policy::none());
        self
    }

    pub fn build(self) -> Result<InternalClient, reqwest::Error> {
        Ok(InternalClient {
            http: self.http.build()?,
            token: self.token,
        })
    }
}

/// `request` with the current span's W3C trace context (`traceparent`,
/// `tracestate`), so that the callee's spans join the caller's trace.
pub fn with_trace_context(mut request: RequestBuilder) -> RequestBuilder {
    for (name, value) in crate::telemetry::trace_headers() {
        request = request.header(name, value);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    use wiremock::matchers::{header, header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client() -> InternalClient {
        InternalClient::builder(Duration::from_secs(1), Duration::from_secs(5))
            .service_token(SecretString::from("service-token"))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn an_internal_call_carries_the_service_token_and_the_callers_trace_context() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .build()
            .tracer("test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let _installed = tracing::subscriber::set_default(subscriber);
        let callee = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/internal/things"))
            .and(header(INTERNAL_TOKEN_HEADER, "service-token"))
            .and(header_exists("traceparent"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&callee)
            .await;

        let span = tracing::info_span!("caller");
        let request = span.in_scope(|| client().post(format!("{}/internal/things", callee.uri())));
        let answer = request.send().await.unwrap();

        assert_eq!(answer.status().as_u16(), 204);
        let received = callee.received_requests().await.unwrap();
        let traceparent = received[0].headers["traceparent"].to_str().unwrap();
        // version-trace id-parent id-flags, and the trace is the caller's span's.
        assert_eq!(traceparent.split('-').count(), 4, "{traceparent}");
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let trace_id = span.context().span().span_context().trace_id().to_string();
        assert_eq!(traceparent.split('-').nth(1), Some(trace_id.as_str()));
    }

    #[tokio::test]
    async fn a_relayed_request_never_carries_the_service_token() {
        let request = client()
            .relay(Method::GET, "http://127.0.0.1:9/api/v1/workflows")
            .build()
            .unwrap();
        assert!(request.headers().get(INTERNAL_TOKEN_HEADER).is_none());
        let request = client()
            .get("http://127.0.0.1:9/internal/x")
            .build()
            .unwrap();
        assert_eq!(request.headers()[INTERNAL_TOKEN_HEADER], "service-token");
    }
}
