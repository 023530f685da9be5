//! What the handlers share: the database, the keyring, the provider
//! settings and the call path (tokens, limiter, HTTP client).

use std::sync::Arc;
use std::time::Duration;

use echoflow_bus::outbox::OutboxHandle;
use sea_orm::DatabaseConnection;

use crate::calls::Calls;
use crate::calls::limiter::Limiter;
use crate::settings::{IntegrationsSettings, Settings};
use crate::tokens::Tokens;
use crate::tokens::keyring::Keyring;

pub struct Integrations {
    pub db: DatabaseConnection,
    pub keyring: Arc<Keyring>,
    pub settings: IntegrationsSettings,
    /// Base of the OAuth redirect URI (no trailing slash).
    pub redirect_base: String,
    pub http: reqwest::Client,
    pub calls: Calls,
}

impl Integrations {
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        keyring: Arc<Keyring>,
        relay: OutboxHandle,
    ) -> anyhow::Result<Self> {
        let s = settings.integrations.clone();
        let timeout = Duration::from_millis(s.request_timeout_ms.max(1));
        // No redirects: a token endpoint or API that redirects is not
        // followed with our credentials.
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("echoflow-integrations/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let tokens = Arc::new(Tokens::new(
            db.clone(),
            keyring.clone(),
            s.providers.clone(),
            http.clone(),
            s.refresh_margin_secs,
            relay,
        ));
        let calls = Calls {
            db: db.clone(),
            tokens,
            limiter: Arc::new(Limiter::new(db.clone(), &s.providers)),
            http: http.clone(),
            providers: s.providers.clone(),
            max_wait: Duration::from_millis(s.max_limiter_wait_ms),
        };
        Ok(Self {
            db,
            keyring,
            redirect_base: settings.redirect_base(),
            settings: s,
            http,
            calls,
        })
    }
}
