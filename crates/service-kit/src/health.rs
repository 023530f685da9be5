//! `/healthz` (alive), `/readyz` (database and bus reachable) and `/metrics`.

use actix_web::{HttpResponse, web};
use echoflow_bus::SharedBus;
use sea_orm::DatabaseConnection;
use serde_json::json;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    pub db: DatabaseConnection,
    pub bus: SharedBus,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let db = crate::db::ping(&readiness.db).await;
    let bus = readiness.bus.health().await;
    let check = |r: Result<(), String>| match r {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => json!({"status": "down", "error": e}),
    };
    let ready = db.is_ok() && bus.is_ok();
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "checks": {
            "database": check(db.map_err(|e| e.to_string())),
            "bus": check(bus.map_err(|e| e.to_string())),
        }
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics_text() -> HttpResponse {
    let text = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
