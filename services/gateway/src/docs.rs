//! `GET /api/openapi.json`: the merged contract as this deployment serves it.
//! Each service's own document is fetched from it and merged by
//! [`crate::openapi::document`], the same function `echoflow openapi` uses
//! to print `docs/openapi.json`.
//!
//! The route is anonymous, so the merged document is served from a cache:
//! one build at a time asks each service once, and its result is kept for
//! `openapi.cache_secs` when every service answered, for only
//! `openapi.partial_cache_secs` when one did not (a service down at start
//! appears once it is back, and callers still cannot make the gateway ask
//! the others more than once per that lifetime).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, http::header::ContentType, web};
use echoflow_service_kit::ApiError;
use serde::Deserialize;
use serde_json::Value;

use crate::openapi;
use crate::proxy::Upstreams;

/// How long one service may take to hand over its document.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The cache's lifetimes (`ECHOFLOW_OPENAPI__CACHE_SECS`, `__PARTIAL_CACHE_SECS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OpenApiSettings {
    /// Seconds a document every service contributed to is served before it is built again.
    pub cache_secs: u64,
    /// Seconds a document missing a service (it did not answer) is served before it is built again.
    pub partial_cache_secs: u64,
}

impl Default for OpenApiSettings {
    fn default() -> Self {
        Self {
            cache_secs: 300,
            partial_cache_secs: 10,
        }
    }
}

/// The merged document, with every service's part or without some.
pub struct Merged {
    pub document: Value,
    /// Whether every service answered.
    pub complete: bool,
}

/// Fetches each service's document (all at once) and merges them into the
/// gateway's, in a fixed order. A service that is down leaves its paths out
/// rather than failing the page.
pub async fn merged(upstreams: &Upstreams) -> Merged {
    let bases = [
        &upstreams.registry,
        &upstreams.chat,
        &upstreams.integrations,
        &upstreams.executor,
    ];
    let fetched = futures::future::join_all(bases.map(|base| fetch(upstreams, base))).await;
    let complete = fetched.iter().all(Option::is_some);
    let services: Vec<Value> = fetched.into_iter().flatten().collect();
    Merged {
        document: openapi::document(&services),
        complete,
    }
}

async fn fetch(upstreams: &Upstreams, base: &str) -> Option<Value> {
    let url = format!("{base}/api/openapi.json");
    let fetched = async {
        upstreams
            .client
            .get(&url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await
    }
    .await;
    match fetched {
        Ok(doc) => Some(doc),
        Err(e) => {
            tracing::warn!(error = %e, url, "service OpenAPI document unavailable");
            None
        }
    }
}

/// The merged document as served, with when it is to be built again.
struct Built {
    body: web::Bytes,
    until: Instant,
}

/// The served document, built at most once per lifetime.
pub struct OpenApiCache {
    settings: OpenApiSettings,
    current: Mutex<Option<Built>>,
    /// Held while building: concurrent callers wait for that build instead of starting their own.
    building: tokio::sync::Mutex<()>,
}

impl OpenApiCache {
    pub fn new(settings: &OpenApiSettings) -> Self {
        Self {
            settings: settings.clone(),
            current: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The document as JSON text: the cached one while it lasts, else a new build.
    pub async fn body(&self, upstreams: &Upstreams) -> Result<web::Bytes, ApiError> {
        if let Some(body) = self.fresh() {
            return Ok(body);
        }
        let _building = self.building.lock().await;
        // Another caller may have built it while this one waited.
        if let Some(body) = self.fresh() {
            return Ok(body);
        }
        let merged = merged(upstreams).await;
        let body =
            web::Bytes::from(serde_json::to_vec(&merged.document).map_err(ApiError::internal)?);
        let lifetime = if merged.complete {
            self.settings.cache_secs
        } else {
            self.settings.partial_cache_secs
        };
        *self.lock() = Some(Built {
            body: body.clone(),
            until: Instant::now() + Duration::from_secs(lifetime),
        });
        Ok(body)
    }

    fn fresh(&self) -> Option<web::Bytes> {
        self.lock()
            .as_ref()
            .filter(|built| Instant::now() < built.until)
            .map(|built| built.body.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Built>> {
        // Every change is one assignment: the value stays whole across a panic elsewhere.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub async fn serve(
    cache: web::Data<OpenApiCache>,
    upstreams: web::Data<Upstreams>,
) -> Result<HttpResponse, ApiError> {
    let body = cache.body(&upstreams).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}
