//! The HTTP bootstrap every service shares: listener, extractor limits and
//! error bodies, auth keys, health and metrics routes, graceful stop.

use actix_web::{dev::Server, web};
use std::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{InternalToken, JwtKeys};
use crate::error::{json_error_handler, query_error_handler};
use crate::health::{self, Readiness};
use crate::metrics::ServiceName;
use crate::unmatched::{DocumentedPaths, path_error, unmatched};

/// Binds `host:port`; port 0 picks a free port (tests, embedded mode).
pub fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind((host, port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// What every service's app carries.
#[derive(Clone)]
pub struct Common {
    pub service: &'static str,
    pub max_body_bytes: usize,
    pub readiness: Readiness,
    pub jwt: JwtKeys,
    pub internal_token: InternalToken,
    /// The service's documented paths: an unmatched request on one of them is a 405.
    pub documented: Option<DocumentedPaths>,
}

impl Common {
    pub fn new(
        service: &'static str,
        server: &crate::settings::ServerSettings,
        auth: &crate::settings::AuthSettings,
        readiness: Readiness,
    ) -> Self {
        Self {
            service,
            max_body_bytes: server.max_body_bytes,
            readiness,
            jwt: JwtKeys::new(&auth.jwt_secret, auth.access_token_ttl_secs),
            internal_token: InternalToken(auth.internal_token.clone()),
            documented: None,
        }
    }

    /// The service's OpenAPI document: a request on one of its paths with a
    /// method the path does not declare gets 405 and `Allow`, not 404.
    pub fn documented(mut self, doc: &utoipa::openapi::OpenApi) -> Self {
        self.documented = Some(DocumentedPaths::from_openapi(doc));
        self
    }

    /// App data and routes shared by every service; use with `App::configure`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(
            web::JsonConfig::default()
                .limit(self.max_body_bytes)
                .error_handler(json_error_handler),
        )
        .app_data(web::PayloadConfig::default().limit(self.max_body_bytes))
        .app_data(web::QueryConfig::default().error_handler(query_error_handler))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::Data::new(ServiceName(self.service)))
        .app_data(web::Data::new(self.readiness.clone()))
        .app_data(web::Data::new(self.jwt.clone()))
        .app_data(web::Data::new(self.internal_token.clone()))
        .configure(health::routes)
        .default_service(web::to(unmatched));
        if let Some(documented) = &self.documented {
            cfg.app_data(web::Data::new(documented.clone()));
        }
    }
}

/// Number of HTTP workers per service: small, the work is async.
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4)
}

/// Runs `server` until it ends or `shutdown` is cancelled; then stops it
/// gracefully (in-flight requests finish).
pub async fn run_until_stopped(server: Server, shutdown: CancellationToken) -> std::io::Result<()> {
    let handle = server.handle();
    let stopper = tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    let result = server.await;
    stopper.abort();
    result
}
