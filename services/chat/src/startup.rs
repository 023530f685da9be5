//! Builds and runs chat: HTTP API and the outbox relay of its events.

use actix_web::{dev::Server, middleware::from_fn, web};
use echoflow_bus::{SharedBus, outbox::OutboxRelay};
use echoflow_migrations::Slice;
use echoflow_service_kit::settings::CommonSettings;
use echoflow_service_kit::{HttpService, Service, db, health::Readiness};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::responder::{Provider, Responder};
use crate::routes::{chat, chatbots, conversations, end_users, faqs, intents, internal, widget};
use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    stop_background: CancellationToken,
    relay: echoflow_bus::outbox::OutboxHandle,
    /// Cancelled when chat stops: ends the session streams, so the graceful stop does not wait on them.
    streams_stopping: CancellationToken,
    /// Conversation messages of every chat replica, for the session streams open here.
    streams: echoflow_bus::Subscription,
}

impl Service for Application {
    const NAME: &'static str = "chat";
    type Settings = Settings;

    fn settings_from_env() -> Result<Settings, config::ConfigError> {
        Settings::load(&[])
    }

    fn common(settings: &Settings) -> &CommonSettings {
        &settings.common
    }

    async fn build(settings: Settings, bus: SharedBus) -> anyhow::Result<Self> {
        let db = db::connect_slice(&settings.common.database, Slice::Chat).await?;
        let stop_background = CancellationToken::new();
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), stop_background.clone());
        // Rolls closed hours of messages and conversations up for the analytics overview.
        echoflow_analytics::roller::spawn(
            db.clone(),
            crate::analytics::ChatRows,
            Duration::from_secs(60),
            stop_background.clone(),
        );
        let streams_stopping = CancellationToken::new();
        let hub = std::sync::Arc::new(crate::live::SessionStreams::new(
            &settings.session_stream,
            streams_stopping.clone(),
        ));
        // Subscribed before the server starts: every message from now on reaches the streams.
        let streams = hub.subscribe(&bus).await?;
        // A stream ends once its chatbot's key, its chatbot or its conversation is gone.
        crate::stream_guard::spawn(
            db.clone(),
            hub.clone(),
            Duration::from_secs(settings.session_stream.recheck_secs.max(1)),
            streams_stopping.clone(),
        );
        let hub = web::Data::from(hub);
        let session_tokens = web::Data::new(crate::session_token::SessionTokens::new(
            &settings.common.auth.internal_token,
        ));
        let readiness = Readiness {
            db: db.clone(),
            bus,
        };
        let http = HttpService::bind(Self::NAME, &settings.common, readiness)?
            .documented(&<crate::openapi::ChatDoc as utoipa::OpenApi>::openapi())
            // A stream's query credentials are lifted or dropped before the access log sees the URI.
            .rewrite_before_log(crate::routes::sessions::lift_stream_credentials);
        let port = http.port();
        let chat_settings = settings.chat;
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
        let db = web::Data::new(db);
        let server = http.serve(move |cfg| {
            cfg.app_data(db.clone())
                .app_data(chat_settings.clone())
                .app_data(ctx.clone())
                .app_data(session_tokens.clone())
                .app_data(hub.clone())
                // The widget's routes (chatbot key), ahead of the rest of /api/v1.
                .service(
                    web::scope("/api/v1/chat")
                        .wrap(from_fn(crate::origin::undecided))
                        .route("", web::post().to(chat::chat))
                        // The widget's config and FAQ tab.
                        .route("/config", web::get().to(widget::config))
                        .route("/faqs", web::get().to(widget::faqs))
                        .route(
                            "/sessions/{session_id}/messages",
                            web::get().to(crate::routes::sessions::messages),
                        )
                        .route(
                            "/sessions/{session_id}/stream",
                            web::get().to(crate::routes::sessions::stream::stream),
                        ),
                )
                .service(
                    web::scope("/api/v1")
                        .route("/chatbots", web::post().to(chatbots::create))
                        .route("/chatbots", web::get().to(chatbots::list))
                        .route("/chatbots/{id}", web::get().to(chatbots::get))
                        .route("/chatbots/{id}", web::put().to(chatbots::update))
                        .route("/chatbots/{id}", web::delete().to(chatbots::delete))
                        .route(
                            "/chatbots/{id}/end-users/{email}",
                            web::delete().to(end_users::erase),
                        )
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
                        ),
                )
                .service(
                    web::scope("/internal")
                        .route("/chatbots/{id}", web::get().to(internal::chatbot))
                        .route(
                            "/analytics/conversations",
                            web::get().to(crate::analytics::conversations),
                        )
                        .route(
                            "/conversations/{id}/messages",
                            web::post().to(internal::post_message),
                        )
                        .route("/conversations/{id}/tags", web::post().to(internal::tag)),
                )
                .route("/api/openapi.json", web::get().to(crate::openapi::serve));
        })?;
        Ok(Self {
            port,
            server,
            stop_background,
            relay,
            streams_stopping,
            streams,
        })
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Serves HTTP until `shutdown`, then stops the relay after the last request.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // The session streams end as the stop begins, not after the graceful stop's timeout.
        let streams_stopping = self.streams_stopping.clone();
        let stopping = shutdown.clone();
        let end_streams = tokio::spawn(async move {
            stopping.cancelled().await;
            streams_stopping.cancel();
        });
        let served = echoflow_service_kit::http::run_until_stopped(self.server, shutdown).await;
        end_streams.abort();
        self.streams_stopping.cancel();
        self.streams.stop().await;
        self.stop_background.cancel();
        self.relay.stopped().await;
        served?;
        Ok(())
    }
}
