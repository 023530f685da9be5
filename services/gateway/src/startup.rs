//! Builds and runs the gateway.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, dev::Server, middleware::from_fn, web};
use echoflow_bus::{SharedBus, Subscription};
use echoflow_migrations::Slice;
use echoflow_service_kit::{health::Readiness, http::Common, metrics};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::caller::check_caller;
use crate::limits::Limits;
use crate::live::LiveUpdates;
use crate::proxy::{Upstreams, forward};
use crate::routes::{auth, executions, users};
use crate::screen::screen;
use crate::settings::Settings;

pub const SERVICE: &str = "gateway";

pub struct Application {
    port: u16,
    server: Server,
    /// Cancelled when the gateway stops; ends the live streams so the server's graceful stop does not wait on them.
    stopping: CancellationToken,
    updates: Subscription,
}

impl Application {
    /// Connects to the identity slice (migrating it), binds the listener and
    /// builds the server; nothing runs until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let db = echoflow_service_kit::db::connect(
            &settings.database.url,
            Slice::Identity.name(),
            settings.database.max_connections,
        )
        .await?;
        Slice::Identity.migrate(&db).await?;
        let listener =
            echoflow_service_kit::http::bind(&settings.server.host, settings.server.port)?;
        let port = listener.local_addr()?.port();
        let stopping = CancellationToken::new();
        let live = Arc::new(LiveUpdates::new(&settings.live, stopping.clone()));
        // Subscribed before the server starts: every update from now on reaches the streams.
        let updates = live.subscribe(&bus).await?;
        let live = web::Data::from(live);
        let common = Common::new(
            SERVICE,
            &settings.server,
            &settings.auth,
            Readiness {
                db: db.clone(),
                bus,
            },
        );
        let upstreams = web::Data::new(Upstreams::new(
            &settings.services.registry_url,
            &settings.services.executor_url,
            &settings.services.chat_url,
            &settings.services.integrations_url,
        )?);
        let db = web::Data::new(db);
        let refresh_ttl = web::Data::new(auth::RefreshTtl(settings.auth.refresh_token_ttl_secs));
        let limits = web::Data::new(Limits::new(&settings.rate_limit));
        metrics::handle();
        let server = HttpServer::new(move || {
            // Outermost last: the query token is lifted or dropped before the access log sees
            // the URI; bad methods, bad paths and internal headers stop before any route.
            App::new()
                .wrap(from_fn(check_caller))
                .wrap(from_fn(screen))
                .wrap(from_fn(metrics::track_requests))
                .wrap(TracingLogger::default())
                .wrap(from_fn(executions::lift_access_token))
                .configure(|cfg| common.configure(cfg))
                .app_data(db.clone())
                .app_data(upstreams.clone())
                .app_data(refresh_ttl.clone())
                .app_data(limits.clone())
                .app_data(live.clone())
                .service(
                    web::scope("/api/v1")
                        // The gateway's own, ahead of the proxy that sends the rest of /executions to the executor.
                        .route("/executions/stream", web::get().to(executions::stream))
                        .route("/auth/register", web::post().to(auth::register))
                        .route("/auth/token", web::post().to(auth::token))
                        .route("/auth/refresh", web::post().to(auth::refresh))
                        .route("/auth/logout", web::post().to(auth::logout))
                        .route("/users/me", web::get().to(users::me)),
                )
                .route("/api/openapi.json", web::get().to(crate::openapi::serve))
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
        })
        .workers(echoflow_service_kit::http::workers())
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            stopping,
            updates,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown`; then the live streams end, the server stops gracefully and the
    /// updates subscription lets go of the bus.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
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

/// `echoflow serve gateway` and the gateway's own binary.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let settings = Settings::load(&[])?;
    // Distributed mode: every secret must be the deployment's own.
    echoflow_service_kit::strong_secrets::require_strong_auth(&settings.auth)?;
    echoflow_service_kit::telemetry::init(SERVICE, &settings.telemetry);
    let bus = echoflow_service_kit::bus::connect(&settings.bus).await?;
    let app = Application::build(settings, bus).await?;
    tracing::info!(port = app.port(), "gateway listening");
    let result = app
        .run_until_stopped(echoflow_service_kit::shutdown::on_signal())
        .await;
    echoflow_service_kit::telemetry::shutdown();
    result
}
