//! The integrations service's settings.

use echoflow_service_kit::settings::{CommonSettings, Sources};
use secrecy::SecretString;
use serde::Deserialize;

use crate::provider::Provider;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    pub integrations: IntegrationsSettings,
}

/// `[integrations]`: token encryption, the OAuth flow and provider calls.
#[derive(Debug, Clone, Deserialize)]
pub struct IntegrationsSettings {
    /// `key_id:base64(32 bytes)`, comma-separated (see [`crate::tokens::keyring::Keyring`]).
    pub encryption_keys: SecretString,
    /// The key new and re-encrypted tokens use.
    pub active_key_id: String,
    /// Base of the OAuth redirect URI; empty = `services.public_url`.
    pub redirect_base_url: String,
    /// A connect must be completed within this many seconds.
    pub state_ttl_secs: i64,
    /// Access tokens are refreshed this long before they expire.
    pub refresh_margin_secs: i64,
    /// The longest a provider call waits for its rate limiter or a
    /// provider's Retry-After before answering 429.
    pub max_limiter_wait_ms: u64,
    /// Timeout of each request to a provider (token endpoint included).
    pub request_timeout_ms: u64,
    pub providers: ProvidersSettings,
}

/// `[integrations.providers.<name>]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProvidersSettings {
    pub slack: ProviderSettings,
    pub hubspot: ProviderSettings,
    pub google_sheets: ProviderSettings,
    pub salesforce: ProviderSettings,
}

impl ProvidersSettings {
    pub fn of(&self, provider: Provider) -> &ProviderSettings {
        match provider {
            Provider::Slack => &self.slack,
            Provider::Hubspot => &self.hubspot,
            Provider::GoogleSheets => &self.google_sheets,
            Provider::Salesforce => &self.salesforce,
        }
    }
}

/// One OAuth provider: its endpoints (tests point them at local fakes), the
/// app's credentials, the scopes asked for and the default rate limit.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    /// Empty = the provider is not configured (connect answers 409).
    pub client_id: String,
    pub client_secret: SecretString,
    pub authorize_url: String,
    pub token_url: String,
    /// Empty (Salesforce) = the `instance_url` the token endpoint returned.
    pub api_base_url: String,
    /// Where a deleted connection's grant is revoked; empty = it is not.
    #[serde(default)]
    pub revoke_url: String,
    /// Comma- or space-separated.
    pub scopes: String,
    pub requests_per_minute: u32,
    pub burst: u32,
}

impl ProviderSettings {
    pub fn is_configured(&self) -> bool {
        !self.client_id.trim().is_empty()
    }

    /// The configured scopes, one per entry.
    pub fn scope_list(&self) -> Vec<String> {
        split_scopes(&self.scopes)
    }
}

/// Splits a scope list written with commas and/or spaces.
pub fn split_scopes(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Settings {
    pub fn load(overrides: &[(&str, String)]) -> Result<Self, config::ConfigError> {
        let sources = Sources::load("integrations", overrides)?;
        Ok(Self {
            common: sources.common()?,
            integrations: sources.section("integrations")?,
        })
    }

    /// Where providers send the browser back to, without the path.
    pub fn redirect_base(&self) -> String {
        let base = if self.integrations.redirect_base_url.trim().is_empty() {
            &self.common.services.public_url
        } else {
            &self.integrations.redirect_base_url
        };
        base.trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_with_every_provider() {
        let settings = Settings::load(&[]).unwrap();
        assert_eq!(settings.common.server.port, 8084);
        for p in Provider::ALL {
            let s = settings.integrations.providers.of(p);
            assert!(!s.token_url.is_empty(), "{p:?}");
            assert!(s.requests_per_minute > 0);
        }
        assert_eq!(
            split_scopes("a,b c , d"),
            vec!["a".to_string(), "b".into(), "c".into(), "d".into()]
        );
    }
}
