//! Every service's HTTP server: its routes inside one chain (the request log
//! with trace context, request metrics, JSON limits and error bodies, health,
//! readiness and metrics routes), on its own listener, stopped by its owner.

use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service as _, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, Error, HttpServer, web};
use std::net::TcpListener;
use tracing_actix_web::TracingLogger;

use crate::allowed_origin;
use crate::health::Readiness;
use crate::http::{self, Common};
use crate::metrics;
use crate::settings::CommonSettings;

/// A service's HTTP side, bound and not yet serving.
pub struct HttpService {
    listener: TcpListener,
    port: u16,
    common: Common,
    before_log: Option<fn(&mut ServiceRequest)>,
}

impl HttpService {
    /// Binds `server.host:server.port` (port 0 picks a free port: tests,
    /// `echoflow up`) and prepares what every service's app carries.
    pub fn bind(
        service: &'static str,
        settings: &CommonSettings,
        readiness: Readiness,
    ) -> std::io::Result<Self> {
        let listener = http::bind(&settings.server.host, settings.server.port)?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            common: Common::new(service, &settings.server, &settings.auth, readiness),
            before_log: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Passes every request through `rewrite` before anything, the request
    /// log included, sees it (the gateway takes tokens out of URIs).
    pub fn rewrite_before_log(mut self, rewrite: fn(&mut ServiceRequest)) -> Self {
        self.before_log = Some(rewrite);
        self
    }

    /// Answers a documented path's other methods with 405 (see [`Common::documented`]).
    pub fn documented(mut self, doc: &utoipa::openapi::OpenApi) -> Self {
        self.common = self.common.documented(doc);
        self
    }

    /// Serves `routes` (with their app data).
    pub fn serve<R>(self, routes: R) -> std::io::Result<Server>
    where
        R: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        self.serve_app(move |common| app(common).configure(routes.clone()))
    }

    /// Serves the app `build` makes, starting from [`app`], for a service
    /// that wraps its routes in middleware of its own or answers unmatched
    /// paths itself (the gateway).
    pub fn serve_app<F, T, B>(self, build: F) -> std::io::Result<Server>
    where
        F: Fn(&Common) -> App<T> + Clone + Send + 'static,
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        metrics::handle();
        let Self {
            listener,
            common,
            before_log,
            ..
        } = self;
        let server = HttpServer::new(move || {
            // The last wrap is the outermost.
            build(&common)
                .wrap(from_fn(allowed_origin::echo))
                .wrap(from_fn(metrics::track_requests))
                .wrap(TracingLogger::default())
                .wrap_fn(move |mut req, service| {
                    if let Some(rewrite) = before_log {
                        rewrite(&mut req);
                    }
                    service.call(req)
                })
        })
        .workers(http::workers())
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(server)
    }
}

/// An app with what every service's app carries: extractor limits and error
/// bodies, auth keys, the health and metrics routes, unmatched requests.
pub fn app(
    common: &Common,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = Error,
        InitError = (),
    > + use<>,
> {
    App::new().configure(|cfg| common.configure(cfg))
}
