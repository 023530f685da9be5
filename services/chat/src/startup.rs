//! Builds and runs chat: HTTP API and the outbox relay of its events.

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use echoflow_bus::{SharedBus, outbox::OutboxRelay};
use echoflow_migrations::Slice;
use echoflow_service_kit::{health::Readiness, http::Common, metrics};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::responder::{Provider, Responder};
use crate::routes::{chat, chatbots, conversations, faqs, intents, internal};
use crate::settings::Settings;

pub const SERVICE: &str = "chat";

pub struct Application {
    port: u16,
    server: Server,
    stop_background: CancellationToken,
    relay: echoflow_bus::outbox::OutboxHandle,
}

impl Application {
    pub async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let db = echoflow_service_kit::db::connect(
            &settings.database.url,
            Slice::Chat.name(),
            settings.database.max_connections,
        )
        .await?;
        Slice::Chat.migrate(&db).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        let listener =
            echoflow_service_kit::http::bind(&settings.server.host, settings.server.port)?;
        let port = listener.local_addr()?.port();
        let common = Common::new(
            SERVICE,
            &settings.server,
            &settings.auth,
            Readiness {
                db: db.clone(),
                bus: bus.clone(),
            },
        )
        .documented(&<crate::openapi::ChatDoc as utoipa::OpenApi>::openapi());
        let chat_settings = settings.chat.clone();
        let provider = Provider::from_settings(
            &chat_settings.provider_base_url,
            &chat_settings.provider_model,
            chat_settings.provider_api_key.clone(),
            Duration::from_millis(chat_settings.provider_timeout_ms),
        )?;
        if provider.is_none() {
            tracing::info!("no reply provider configured; the built-in FAQ responder answers");
        }
        let ctx = web::Data::new(chat::ChatContext {
            responder: Responder::new(provider, chat_settings.fallback_message.clone()),
            relay: relay.clone(),
        });
        let chat_settings = web::Data::new(chat_settings);
        let db_data = web::Data::new(db);
        metrics::handle();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(metrics::track_requests))
                .wrap(TracingLogger::default())
                .configure(|cfg| common.configure(cfg))
                .app_data(db_data.clone())
                .app_data(chat_settings.clone())
                .app_data(ctx.clone())
                .service(
                    web::scope("/api/v1")
                        .route("/chatbots", web::post().to(chatbots::create))
                        .route("/chatbots", web::get().to(chatbots::list))
                        .route("/chatbots/{id}", web::get().to(chatbots::get))
                        .route("/chatbots/{id}", web::put().to(chatbots::update))
                        .route("/chatbots/{id}", web::delete().to(chatbots::delete))
                        .route(
                            "/chatbots/{id}/api-key/rotate",
                            web::post().to(chatbots::rotate_key),
                        )
                        .route("/chatbots/{id}/faqs", web::get().to(faqs::list))
                        .route("/chatbots/{id}/faqs", web::post().to(faqs::create))
                        .route("/chatbots/{id}/faqs/{faq_id}", web::put().to(faqs::update))
                        .route(
                            "/chatbots/{id}/faqs/{faq_id}",
                            web::delete().to(faqs::delete),
                        )
                        .route("/chatbots/{id}/intents", web::get().to(intents::list))
                        .route("/chatbots/{id}/intents", web::post().to(intents::create))
                        .route(
                            "/chatbots/{id}/intents/{intent_id}",
                            web::delete().to(intents::delete),
                        )
                        .route(
                            "/chatbots/{id}/conversations",
                            web::get().to(conversations::list),
                        )
                        .route(
                            "/conversations/{id}/messages",
                            web::get().to(conversations::messages),
                        )
                        .route("/chat", web::post().to(chat::chat)),
                )
                .service(
                    web::scope("/internal")
                        .route("/chatbots/{id}", web::get().to(internal::chatbot))
                        .route(
                            "/conversations/{id}/messages",
                            web::post().to(internal::post_message),
                        )
                        .route("/conversations/{id}/tags", web::post().to(internal::tag)),
                )
                .route("/api/openapi.json", web::get().to(crate::openapi::serve))
        })
        .workers(echoflow_service_kit::http::workers())
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            stop_background,
            relay,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP until `shutdown`, then stops the relay after the last request.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let served = echoflow_service_kit::http::run_until_stopped(self.server, shutdown).await;
        self.stop_background.cancel();
        self.relay.stopped().await;
        served?;
        Ok(())
    }
}

/// `echoflow serve chat` and the service's own binary.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let settings = Settings::load(&[])?;
    // Distributed mode: every secret must be the deployment's own.
    echoflow_service_kit::strong_secrets::require_strong_auth(&settings.auth)?;
    echoflow_service_kit::telemetry::init(SERVICE, &settings.telemetry);
    let bus = echoflow_service_kit::bus::connect(&settings.bus).await?;
    let app = Application::build(settings, bus).await?;
    tracing::info!(port = app.port(), "chat listening");
    let result = app
        .run_until_stopped(echoflow_service_kit::shutdown::on_signal())
        .await;
    echoflow_service_kit::telemetry::shutdown();
    result
}
