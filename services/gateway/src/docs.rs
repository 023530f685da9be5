//! `GET /api/openapi.json`: the merged contract as this deployment serves it.
//! Each service's own document is fetched from it and merged by
//! [`crate::openapi::document`], the same function `echoflow openapi` uses
//! to print `docs/openapi.json`.

use actix_web::{HttpResponse, web};
use serde_json::Value;

use crate::openapi;
use crate::proxy::Upstreams;

/// Fetches each service's document and merges them into the gateway's. A
/// service that is down leaves its paths out rather than failing the page.
pub async fn merged(upstreams: &Upstreams) -> Value {
    let mut services = Vec::new();
    for base in [
        &upstreams.registry,
        &upstreams.chat,
        &upstreams.integrations,
        &upstreams.executor,
    ] {
        let url = format!("{base}/api/openapi.json");
        let fetched = async {
            upstreams
                .client
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<Value>()
                .await
        }
        .await;
        match fetched {
            Ok(doc) => services.push(doc),
            Err(e) => tracing::warn!(error = %e, url, "service OpenAPI document unavailable"),
        }
    }
    openapi::document(&services)
}

pub async fn serve(upstreams: web::Data<Upstreams>) -> HttpResponse {
    HttpResponse::Ok().json(merged(&upstreams).await)
}
