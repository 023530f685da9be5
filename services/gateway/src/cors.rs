//! Cross-origin requests from browsers. Two policies, by path:
//!
//! - **The widget's routes** (`/api/v1/chat` and below, called with a
//!   chatbot key from customers' pages): which origins a chatbot accepts is
//!   its own setting (`allowed_origins`), and a preflight carries no key, so
//!   the gateway cannot know the chatbot. It answers every widget preflight
//!   itself, permissively (the methods and headers the widget sends, a short
//!   max-age) and leaves the real request to chat, which refuses an origin
//!   the chatbot does not allow (403 `ORIGIN_NOT_ALLOWED`) and echoes an
//!   allowed one; the proxy passes chat's CORS headers through untouched.
//!   What the gateway refuses there itself, before chat decides (429 over
//!   the key's rate limit, 503 when chat cannot be reached), tells nothing
//!   of a chatbot and carries `Access-Control-Allow-Origin` for the
//!   request's origin, as chat's own refusals before it knows the chatbot
//!   do: the widget can read why it was refused.
//! - **The management API** (everything else): `actix-cors` with the origins
//!   of `cors.allowed_origins`. A preflight from another origin is refused
//!   with 403 `ORIGIN_NOT_ALLOWED` in the API's error body, and a real
//!   request from one gets no CORS headers (the browser then keeps the
//!   answer from the page).
//!
//! Credentials: never. `Access-Control-Allow-Credentials` is not sent; the
//! API takes bearer tokens and chatbot keys in headers, not cookies, so a
//! browser's ambient credentials are of no use to it.

use std::future::ready;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_cors::{Cors, CorsError, CorsMiddleware};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use echoflow_service_kit::{ApiError, ErrorCode};
use futures::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::json;

/// The widget's routes.
pub const WIDGET_PREFIX: &str = "/api/v1/chat";

/// The methods the widget's routes answer.
const WIDGET_METHODS: &str = "GET, POST";

/// The headers a widget sends besides the safelisted ones: its key, its
/// conversation's session token, and what `EventSource` adds on reconnect.
const WIDGET_HEADERS: &str = "Content-Type, X-Chatbot-Key, X-Session-Token, Last-Event-ID";

/// What a widget's script may read of a refusal besides the safelisted headers
/// (as chat exposes on its answers).
const WIDGET_EXPOSED_HEADERS: &str = echoflow_service_kit::allowed_origin::EXPOSED_HEADERS;

/// What a preflight's answer depends on.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// The methods and headers the management API takes from pages.
const MANAGEMENT_METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
const MANAGEMENT_HEADERS: [&str; 4] = ["authorization", "content-type", "accept", "last-event-id"];
/// Answer headers a page's script may read besides the safelisted ones.
const EXPOSED_HEADERS: [&str; 3] = ["retry-after", "location", "allow"];

/// `[cors]` (`ECHOFLOW_CORS__<KEY>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CorsSettings {
    /// The origins whose pages may call the management API, comma-separated
    /// (`https://app.example.com,http://localhost:5173`); `*` allows any;
    /// empty (the default) allows none. The widget's routes follow each
    /// chatbot's `allowed_origins` instead.
    pub allowed_origins: String,
    /// How long a browser may reuse a management preflight's answer, in seconds.
    pub max_age_secs: u32,
    /// The same for the widget's routes; short, as their answer is permissive.
    pub widget_max_age_secs: u32,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            allowed_origins: String::new(),
            max_age_secs: 600,
            widget_max_age_secs: 300,
        }
    }
}

/// Which origins the management API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    Any,
    /// As browsers send them: `https://app.example.com`.
    Listed(Vec<String>),
}

/// The policy the gateway serves, checked once at start.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    pub origins: Origins,
    pub max_age_secs: u32,
    pub widget_max_age_secs: u32,
}

impl CorsPolicy {
    /// Reads the settings; an entry that is not an origin stops the start, naming it.
    pub fn from_settings(settings: &CorsSettings) -> anyhow::Result<Self> {
        let entries: Vec<&str> = settings
            .allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let origins = if entries == ["*"] {
            Origins::Any
        } else {
            let mut listed = Vec::new();
            for entry in entries {
                let origin = normalise(entry)
                    .map_err(|why| anyhow::anyhow!("ECHOFLOW_CORS__ALLOWED_ORIGINS: {why}"))?;
                if !listed.contains(&origin) {
                    listed.push(origin);
                }
            }
            Origins::Listed(listed)
        };
        Ok(Self {
            origins,
            max_age_secs: settings.max_age_secs,
            widget_max_age_secs: settings.widget_max_age_secs,
        })
    }

    /// The management API's `actix-cors` middleware.
    pub fn management(&self) -> Cors {
        let mut cors = Cors::default()
            .allowed_methods(MANAGEMENT_METHODS)
            .allowed_headers(MANAGEMENT_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(self.max_age_secs as usize);
        match &self.origins {
            Origins::Any => cors = cors.allow_any_origin(),
            Origins::Listed(origins) => {
                for origin in origins {
                    cors = cors.allowed_origin(origin);
                }
            }
        }
        cors
    }
}

/// An origin as browsers send it (lower case, the port only when not the
/// scheme's default), from what an operator wrote; the fault otherwise.
pub fn normalise(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw)
        .map_err(|_| format!("`{raw}` is not an origin such as https://app.example.com"))?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
        return Err(format!(
            "`{raw}` must be an http or https scheme://host[:port], without path, query or user"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// Whether `path` is one of the widget's routes.
pub fn is_widget_path(path: &str) -> bool {
    path.strip_prefix(WIDGET_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(req: &ServiceRequest) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Marks a request whose answer came from the service behind the gateway
/// (whose CORS headers pass through as they are).
#[derive(Clone, Copy)]
pub struct Relayed;

/// A widget route's answer: chat's as it is; the gateway's own refusals
/// with the request's origin in `Access-Control-Allow-Origin`.
fn widget_answer<B: MessageBody + 'static>(
    mut res: ServiceResponse<B>,
    origin: Option<HeaderValue>,
) -> ServiceResponse<BoxBody> {
    let relayed = res.request().extensions().get::<Relayed>().is_some();
    let refused = res.status().is_client_error() || res.status().is_server_error();
    if let Some(origin) = origin.filter(|_| refused && !relayed) {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(WIDGET_EXPOSED_HEADERS),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    res.map_into_boxed_body()
}

/// The answer to a widget route's preflight: any origin may go on to the
/// real request, which chat decides.
fn widget_preflight(req: &ServiceRequest, max_age_secs: u32) -> HttpResponse {
    let mut answer = HttpResponse::NoContent();
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        answer.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
    }
    answer
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, WIDGET_METHODS))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, WIDGET_HEADERS))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, max_age_secs.to_string()))
        .insert_header((header::VARY, PREFLIGHT_VARY))
        .finish()
}

/// A management answer as `actix-cors` left it, with its refusals (plain
/// text 400s) turned into the API's error body, and without the
/// `Access-Control-Expose-Headers` it adds even where it allowed no origin:
/// an answer that grants no origin carries no CORS header.
fn management_answer<B: MessageBody + 'static>(
    mut res: ServiceResponse<B>,
) -> ServiceResponse<BoxBody> {
    if !res
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        res.headers_mut()
            .remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    let Some(refused) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<CorsError>())
        .map(refusal)
    else {
        return res.map_into_boxed_body();
    };
    let (req, _) = res.into_parts();
    let mut answer = refused.error_response();
    answer
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
    ServiceResponse::new(req, answer)
}

/// The gateway's CORS middleware (see the module's doc): the widget's routes
/// one way, the management API through `actix-cors`. Built per worker from
/// the [`CorsPolicy`] (`actix-cors` is not `Send`).
pub struct CorsLayer {
    management: Cors,
    widget_max_age_secs: u32,
}

impl CorsPolicy {
    pub fn layer(&self) -> CorsLayer {
        CorsLayer {
            management: self.management(),
            widget_max_age_secs: self.widget_max_age_secs,
        }
    }
}

/// The next service, shared by the widget's branch and `actix-cors`'s.
pub struct Shared<S>(Rc<S>);

impl<S: Service<ServiceRequest>> Service<ServiceRequest> for Shared<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> S::Future {
        self.0.call(req)
    }
}

impl<S, B> Transform<S, ServiceRequest> for CorsLayer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = CorsService<S>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<CorsService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let next = Rc::new(service);
        let management = self.management.new_transform(Shared(Rc::clone(&next)));
        let widget_max_age_secs = self.widget_max_age_secs;
        Box::pin(async move {
            Ok(CorsService {
                next,
                management: management.await?,
                widget_max_age_secs,
            })
        })
    }
}

pub struct CorsService<S> {
    next: Rc<S>,
    management: CorsMiddleware<Shared<S>>,
    widget_max_age_secs: u32,
}

impl<S, B> Service<ServiceRequest> for CorsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), actix_web::Error>> {
        self.next.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if is_widget_path(req.path()) {
            if is_preflight(&req) {
                let answer = widget_preflight(&req, self.widget_max_age_secs);
                return Box::pin(ready(Ok(req.into_response(answer))));
            }
            // Chat decides and answers the CORS headers; they pass through as they are.
            let origin = req.headers().get(header::ORIGIN).cloned();
            let answer = self.next.call(req);
            return Box::pin(async move { Ok(widget_answer(answer.await?, origin)) });
        }
        let answer = self.management.call(req);
        Box::pin(async move { Ok(management_answer(answer.await?)) })
    }
}

/// The API's error for what `actix-cors` refused.
fn refusal(err: &CorsError) -> ApiError {
    let (code, message, field) = match err {
        CorsError::OriginNotAllowed => (
            ErrorCode::OriginNotAllowed,
            "this origin may not call the API from a browser; the operator lists the origins in cors.allowed_origins",
            "Origin",
        ),
        CorsError::MethodNotAllowed => (
            ErrorCode::Forbidden,
            "this method may not be called cross-origin",
            "Access-Control-Request-Method",
        ),
        CorsError::HeadersNotAllowed => (
            ErrorCode::Forbidden,
            "a requested header may not be sent cross-origin",
            "Access-Control-Request-Headers",
        ),
        CorsError::BadRequestHeaders => (
            ErrorCode::BadRequest,
            "Access-Control-Request-Headers is malformed",
            "Access-Control-Request-Headers",
        ),
        _ => (
            ErrorCode::BadRequest,
            "the CORS preflight is malformed",
            "Access-Control-Request-Method",
        ),
    };
    ApiError::new(code, message).with_details(json!({"header": field}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &str) -> anyhow::Result<CorsPolicy> {
        CorsPolicy::from_settings(&CorsSettings {
            allowed_origins: origins.into(),
            ..CorsSettings::default()
        })
    }

    #[test]
    fn allowed_origins_are_read_normalised_and_a_bad_one_stops_the_start() {
        assert_eq!(policy("").unwrap().origins, Origins::Listed(vec![]));
        assert_eq!(policy(" * ").unwrap().origins, Origins::Any);
        assert_eq!(
            policy("HTTPS://App.Example.com:443, http://localhost:5173,https://app.example.com/")
                .unwrap()
                .origins,
            Origins::Listed(vec![
                "https://app.example.com".into(),
                "http://localhost:5173".into()
            ])
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/x",
            "ftp://a.example",
            "https://a.example,*",
        ] {
            let err = policy(bad).unwrap_err().to_string();
            assert!(
                err.contains("ECHOFLOW_CORS__ALLOWED_ORIGINS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn widget_paths_are_the_chat_route_and_below_it() {
        assert!(is_widget_path("/api/v1/chat"));
        assert!(is_widget_path("/api/v1/chat/faqs"));
        assert!(is_widget_path("/api/v1/chat/sessions/s/stream"));
        assert!(!is_widget_path("/api/v1/chatbots"));
        assert!(!is_widget_path("/api/v1/chatter"));
        assert!(!is_widget_path("/api/v1/conversations/c/messages"));
    }
}
