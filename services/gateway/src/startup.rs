//! Builds and runs the gateway.

use std::sync::Arc;

use actix_web::{HttpResponse, dev::Server, middleware::from_fn, web};
use echoflow_bus::{SharedBus, Subscription};
use echoflow_migrations::Slice;
use echoflow_service_kit::settings::CommonSettings;
use echoflow_service_kit::{HttpService, Service, db, health::Readiness, server};
use tokio_util::sync::CancellationToken;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::caller::check_caller;
use crate::cors::CorsPolicy;
use crate::docs::OpenApiCache;
use crate::limits::Limits;
use crate::live::LiveUpdates;
use crate::proxy::{Upstreams, forward};
use crate::routes::analytics::{self, AnalyticsUpstreams, stream::StreamTiming};
use crate::routes::{auth, executions, users};
use crate::screen::screen;
use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    /// Cancelled when the gateway stops; ends the live streams so the server's graceful stop does not wait on them.
    stopping: CancellationToken,
    updates: Subscription,
}

impl Service for Application {
    const NAME: &'static str = "gateway";
    type Settings = Settings;

    fn settings_from_env() -> Result<Settings, config::ConfigError> {
        Settings::load(&[])
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    /// Connects to the identity slice (migrating it), subscribes to execution updates, binds
    /// the listener and builds the server; nothing runs until [`Service::run_until_stopped`].
    async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        // A bad allowed origin stops the start before anything is connected.
        let cors = CorsPolicy::from_settings(&settings.cors)?;
        let db = db::connect_slice(&settings.common.database, Slice::Identity).await?;
        let stopping = CancellationToken::new();
        let live = Arc::new(LiveUpdates::new(&settings.live, stopping.clone()));
        // Subscribed before the server starts: every update from now on reaches the streams.
        let updates = live.subscribe(&bus).await?;
        let live = web::Data::from(live);
        let readiness = Readiness {
            db: db.clone(),
            bus,
        };
        let http = HttpService::bind(Self::NAME, &settings.common, readiness)?
            // The query token is lifted or dropped before the access log sees the URI.
            .rewrite_before_log(|req| {
                executions::lift_access_token(req);
                crate::proxy::lift_session_stream_credentials(req);
            });
        let port = http.port();
        let services = &settings.common.services;
        let upstreams = web::Data::new(Upstreams::new(
            &services.registry_url,
            &services.executor_url,
            &services.chat_url,
            &services.integrations_url,
        )?);
        let db = web::Data::new(db);
        let refresh_ttl = web::Data::new(auth::RefreshTtl(
            settings.common.auth.refresh_token_ttl_secs,
        ));
        let limits = web::Data::new(Limits::new(&settings.rate_limit));
        let analytics = web::Data::new(AnalyticsUpstreams::new(
            &services.chat_url,
            &services.executor_url,
            settings.common.auth.internal_token.clone(),
        )?);
        let openapi = web::Data::new(OpenApiCache::new(&settings.openapi));
        let dashboard = web::Data::new(StreamTiming {
            counters: std::time::Duration::from_secs(settings.live.counters_secs.max(1)),
            max_lifetime: std::time::Duration::from_secs(settings.live.max_stream_secs.max(1)),
        });
        let server = http.serve_app(move |common| {
            // Inside the shared chain: bad methods, bad paths and internal headers stop
            // before any route, and so does a caller over its rate limit.
            server::app(common)
                .wrap(from_fn(check_caller))
                // Preflights are answered before the caller checks (they carry no credentials);
                // answers from here on, refusals included, carry the CORS headers they may.
                .wrap(cors.layer())
                .wrap(from_fn(screen))
                .app_data(db.clone())
                .app_data(upstreams.clone())
                .app_data(refresh_ttl.clone())
                .app_data(limits.clone())
                .app_data(live.clone())
                .app_data(analytics.clone())
                .app_data(dashboard.clone())
                .app_data(openapi.clone())
                .service(
                    web::scope("/api/v1")
                        // The gateway's own, ahead of the proxy that sends the rest of /executions to the executor.
                        .route("/executions/stream", web::get().to(executions::stream))
                        .route("/analytics/overview", web::get().to(analytics::overview))
                        .route(
                            "/analytics/stream",
                            web::get().to(analytics::stream::stream),
                        )
                        .route("/auth/register", web::post().to(auth::register))
                        .route("/auth/token", web::post().to(auth::token))
                        .route("/auth/refresh", web::post().to(auth::refresh))
                        .route("/auth/logout", web::post().to(auth::logout))
                        .route("/users/me", web::get().to(users::me)),
                )
                .route("/api/openapi.json", web::get().to(crate::docs::serve))
                .route(
                    "/api/docs",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("location", "/api/docs/"))
                            .finish()
                    }),
                )
                .service(
                    SwaggerUi::new("/api/docs/{_:.*}").config(Config::from("/api/openapi.json")),
                )
                .default_service(web::to(forward))
        })?;
        Ok(Self {
            port,
            server,
            stopping,
            updates,
        })
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`; then the live streams end, the server stops gracefully and the
    /// updates subscription lets go of the bus.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stopping = self.stopping.clone();
        let relay = tokio::spawn(async move {
            shutdown.cancelled().await;
            stopping.cancel();
        });
        let served =
            echoflow_service_kit::http::run_until_stopped(self.server, self.stopping.clone()).await;
        relay.abort();
        self.stopping.cancel();
        self.updates.stop().await;
        served?;
        Ok(())
    }
}
