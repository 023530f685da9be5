//! The merged OpenAPI document: the gateway's own paths plus every service's.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::proxy::Upstreams;
use crate::routes::{auth, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "echoflow API", description = "AI chat and workflow automation. Errors are {\"error\": {code, message, details}}."),
    paths(auth::register, auth::token, auth::refresh, auth::logout, users::me),
    components(schemas(auth::RegisterRequest, auth::UserResponse, auth::TokenRequest, auth::RefreshRequest, auth::TokenResponse, users::Me)),
    modifiers(&BearerAuth),
    tags((name = "identity", description = "accounts and tokens"))
)]
pub struct GatewayDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Fetches each service's document and merges it into the gateway's. A
/// service that is down leaves its paths out rather than failing the page.
pub async fn merged(upstreams: &Upstreams) -> utoipa::openapi::OpenApi {
    let mut doc = GatewayDoc::openapi();
    for base in [&upstreams.registry, &upstreams.chat, &upstreams.executor] {
        let url = format!("{base}/api/openapi.json");
        let fetched = async {
            upstreams
                .client
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<utoipa::openapi::OpenApi>()
                .await
        }
        .await;
        match fetched {
            Ok(other) => doc.merge(other),
            Err(e) => tracing::warn!(error = %e, url, "service OpenAPI document unavailable"),
        }
    }
    doc
}

pub async fn serve(upstreams: web::Data<Upstreams>) -> HttpResponse {
    HttpResponse::Ok().json(merged(&upstreams).await)
}
