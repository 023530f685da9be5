//! `GET /api/v1/node-types`: the palette, with each type's config schema.

use actix_web::HttpResponse;
use echoflow_domain::catalogue;
use serde_json::json;

/// Every node type a workflow may use, with the JSON Schema of its config.
#[utoipa::path(get, path = "/api/v1/node-types", operation_id = "listNodeTypes", security(()), tag = "workflows",
    responses((status = 200, description = "`{items: [{type, category, label, description, config_schema, handles}]}`")))]
pub async fn list() -> HttpResponse {
    let items: Vec<_> = catalogue::catalogue()
        .iter()
        .filter(|spec| spec.kind.is_available())
        .collect();
    HttpResponse::Ok().json(json!({ "items": items, "total": items.len() }))
}
