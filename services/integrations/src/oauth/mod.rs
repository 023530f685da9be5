//! The OAuth 2.0 side of each provider, through the oauth2 crate over our
//! reqwest client: the authorize URL (state + PKCE S256), the code exchange
//! and the refresh-token exchange, with provider quirks normalised.
//!
//! Slack answers token errors with HTTP 200 `{"ok": false, "error": ...}`;
//! the HTTP closure turns those into a standard 400 OAuth error body (a
//! revoked or expired refresh token becomes `invalid_grant`), so the rest
//! of the service sees one protocol.

pub mod revoke;

use std::borrow::Cow;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::http::{HeaderValue, StatusCode};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardErrorResponse,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::provider::Provider;
use crate::settings::{ProviderSettings, split_scopes};

/// What providers put in a token response beyond the standard fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderFields {
    /// Slack: the workspace the app was installed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<SlackTeam>,
    /// Salesforce: the org's API host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
    /// Salesforce: the identity URL (`.../id/<org id>/<user id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Google (with the `openid` scope): who signed in, as an OpenID
    /// Connect ID token straight from the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlackTeam {
    pub id: Option<String>,
    pub name: Option<String>,
}

impl ExtraTokenFields for ProviderFields {}

type ProviderTokenResponse = StandardTokenResponse<ProviderFields, BasicTokenType>;

type ProviderClient = Client<
    BasicErrorResponse,
    ProviderTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Tokens as a token endpoint handed them out.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: String,
    /// Absent when the provider keeps the old one (no rotation).
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
    /// Absent when the response did not say (the requested ones apply).
    pub scopes: Option<Vec<String>>,
    pub fields: ProviderFields,
}

/// Why a token endpoint call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The code or refresh token is revoked, expired or spent.
    #[error("the grant is no longer valid ({0})")]
    InvalidGrant(String),
    /// Any other OAuth error (e.g. `invalid_client`): our request or app is wrong.
    #[error("the token endpoint refused the request: {0}")]
    Rejected(String),
    #[error("the token endpoint is rate limiting; retry after {0:?}")]
    RateLimited(Duration),
    /// 5xx, timeout, no connection, or an unreadable answer.
    #[error("the token endpoint is unavailable: {0}")]
    Unavailable(String),
}

/// The HTTP closure's own failures, before oauth2 parses anything.
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("rate limited")]
    RateLimited(Duration),
}

/// Slack errors that mean the grant itself is gone.
const SLACK_GRANT_ERRORS: &[&str] = &[
    "invalid_refresh_token",
    "token_revoked",
    "token_expired",
    "invalid_grant",
    "invalid_code",
    "code_already_used",
    "app_uninstalled",
    "account_inactive",
];

/// Parses a Retry-After value given in seconds (or an HTTP date).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let value = value?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Default wait when a provider says 429 without a Retry-After.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One provider's OAuth client.
pub struct OAuthProvider<'a> {
    provider: Provider,
    settings: &'a ProviderSettings,
    http: &'a reqwest::Client,
}

impl<'a> OAuthProvider<'a> {
    pub fn new(
        provider: Provider,
        settings: &'a ProviderSettings,
        http: &'a reqwest::Client,
    ) -> Self {
        Self {
            provider,
            settings,
            http,
        }
    }

    fn client(&self) -> anyhow::Result<ProviderClient> {
        let mut client = Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.settings.authorize_url.clone())?)
            .set_token_uri(TokenUrl::new(self.settings.token_url.clone())?)
            // Every provider here accepts the credentials in the form body;
            // HubSpot accepts nothing else.
            .set_auth_type(AuthType::RequestBody);
        let secret = self.settings.client_secret.expose_secret();
        if !secret.is_empty() {
            client = client.set_client_secret(ClientSecret::new(secret.to_string()));
        }
        Ok(client)
    }

    /// The URL the user's browser is sent to, with `state` and the S256
    /// challenge of `verifier`.
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        verifier: &str,
    ) -> anyhow::Result<url::Url> {
        let client = self.client()?;
        let redirect = RedirectUrl::new(redirect_uri.to_string())?;
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.into()));
        let state = state.to_string();
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .set_redirect_uri(Cow::Owned(redirect))
            .set_pkce_challenge(challenge);
        let scopes = self.settings.scope_list();
        if !scopes.is_empty() {
            request = request.add_scope(Scope::new(scopes.join(self.provider.scope_separator())));
        }
        for (name, value) in self.provider.extra_authorize_params() {
            request = request.add_extra_param(*name, *value);
        }
        Ok(request.url().0)
    }

    /// Trades an authorization code (and its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
    ) -> Result<TokenSet, TokenError> {
        let client = self
            .client()
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        let http = self.closure();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&http)
            .await;
        self.token_set(response)
    }

    /// Trades a refresh token for new tokens.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, TokenError> {
        let client = self
            .client()
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        let http = self.closure();
        let token = RefreshToken::new(refresh_token.to_string());
        let response = client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await;
        self.token_set(response)
    }

    fn closure(
        &self,
    ) -> impl Fn(
        HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send>,
    > + use<> {
        let http = self.http.clone();
        let provider = self.provider;
        move |request| {
            let http = http.clone();
            Box::pin(async move { send(&http, provider, request).await })
        }
    }

    fn token_set(
        &self,
        response: Result<ProviderTokenResponse, RequestTokenError<HttpFailure, BasicErrorResponse>>,
    ) -> Result<TokenSet, TokenError> {
        let response = response.map_err(classify)?;
        let scopes = response.scopes().map(|scopes| {
            scopes
                .iter()
                .flat_map(|s| split_scopes(s.as_str()))
                .collect::<Vec<_>>()
        });
        Ok(TokenSet {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|r| r.secret().clone()),
            expires_in: response.expires_in(),
            scopes,
            fields: response.extra_fields().clone(),
        })
    }
}

fn classify(err: RequestTokenError<HttpFailure, BasicErrorResponse>) -> TokenError {
    match err {
        RequestTokenError::ServerResponse(e) => {
            let described = match e.error_description() {
                Some(d) => format!("{}: {d}", e.error()),
                None => e.error().to_string(),
            };
            match e.error() {
                BasicErrorResponseType::InvalidGrant => TokenError::InvalidGrant(described),
                _ => TokenError::Rejected(described),
            }
        }
        RequestTokenError::Request(HttpFailure::RateLimited(wait)) => TokenError::RateLimited(wait),
        RequestTokenError::Request(e) => TokenError::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, body) => TokenError::Unavailable(format!(
            "unreadable token response ({e}): {}",
            crate::error::excerpt(&String::from_utf8_lossy(&body))
        )),
        RequestTokenError::Other(e) => TokenError::Unavailable(e),
    }
}

async fn send(
    http: &reqwest::Client,
    provider: Provider,
    request: HttpRequest,
) -> Result<HttpResponse, HttpFailure> {
    let request =
        reqwest::Request::try_from(request).map_err(|e| HttpFailure::Transport(e.to_string()))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| HttpFailure::Transport(describe_transport(&e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| HttpFailure::Transport(describe_transport(&e)))?;
    if status.as_u16() == 429 {
        let wait = parse_retry_after(
            headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        return Err(HttpFailure::RateLimited(
            wait.unwrap_or(DEFAULT_RETRY_AFTER),
        ));
    }
    if status.is_server_error() || status.as_u16() == 408 {
        return Err(HttpFailure::Status(status.as_u16()));
    }
    let (status, body) = match provider {
        Provider::Slack if status.is_success() => normalise_slack(status.as_u16(), &body)?,
        _ => (status.as_u16(), body.to_vec()),
    };
    let mut builder = oauth2::http::Response::builder()
        .status(StatusCode::from_u16(status).map_err(|e| HttpFailure::Transport(e.to_string()))?);
    if let Some(content_type) = headers.get(reqwest::header::CONTENT_TYPE) {
        let value = HeaderValue::from_bytes(content_type.as_bytes())
            .unwrap_or_else(|_| HeaderValue::from_static("application/json"));
        builder = builder.header(oauth2::http::header::CONTENT_TYPE, value);
    }
    builder
        .body(body)
        .map_err(|e| HttpFailure::Transport(e.to_string()))
}

/// Slack's 200 `{"ok": false, "error": e}` as a standard 400 OAuth error.
fn normalise_slack(status: u16, body: &[u8]) -> Result<(u16, Vec<u8>), HttpFailure> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok((status, body.to_vec()));
    };
    if value.get("ok") != Some(&Value::Bool(false)) {
        return Ok((status, body.to_vec()));
    }
    let error = value
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    if error == "ratelimited" {
        return Err(HttpFailure::RateLimited(DEFAULT_RETRY_AFTER));
    }
    let code = if SLACK_GRANT_ERRORS.contains(&error) {
        "invalid_grant"
    } else {
        error
    };
    let normalised = json!({"error": code, "error_description": format!("slack: {error}")});
    Ok((400, normalised.to_string().into_bytes()))
}

/// A transport error's kind, without the URL (which may carry secrets).
pub fn describe_transport(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else if err.is_body() || err.is_decode() {
        "the response body could not be read".into()
    } else {
        "request failed".into()
    }
}

/// A new random PKCE verifier (43+ characters of the unreserved set).
pub fn new_verifier() -> String {
    PkceCodeChallenge::new_random_sha256().1.secret().clone()
}

/// A new random state (256 bits).
pub fn new_state() -> String {
    let bytes: [u8; 32] = rand::random();
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The standard 400 error body, for tests of the normalisation.
pub type OAuthErrorBody = StandardErrorResponse<BasicErrorResponseType>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_errors_in_200_bodies_become_oauth_errors() {
        let (status, body) =
            normalise_slack(200, br#"{"ok":false,"error":"invalid_refresh_token"}"#).unwrap();
        assert_eq!(status, 400);
        let parsed: OAuthErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.error(), &BasicErrorResponseType::InvalidGrant);
        let (status, _) = normalise_slack(200, br#"{"ok":true,"access_token":"x"}"#).unwrap();
        assert_eq!(status, 200);
        let (_, body) =
            normalise_slack(200, br#"{"ok":false,"error":"bad_client_secret"}"#).unwrap();
        let parsed: OAuthErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed.error(),
            &BasicErrorResponseType::Extension("bad_client_secret".into())
        );
        assert!(matches!(
            normalise_slack(200, br#"{"ok":false,"error":"ratelimited"}"#),
            Err(HttpFailure::RateLimited(_))
        ));
    }

    #[test]
    fn token_responses_of_every_provider_parse() {
        for body in [
            r#"{"access_token":"a","token_type":"bearer","expires_in":30,"refresh_token":"r"}"#,
            r#"{"ok":true,"access_token":"xoxb","token_type":"bot","scope":"chat:write,channels:read","team":{"id":"T1","name":"Acme"}}"#,
            r#"{"access_token":"s","token_type":"Bearer","instance_url":"https://x.my.salesforce.com","id":"https://login.salesforce.com/id/00D/005","issued_at":"1700000000000","signature":"sig"}"#,
        ] {
            let parsed: ProviderTokenResponse = serde_json::from_str(body).unwrap();
            assert!(!parsed.access_token().secret().is_empty(), "{body}");
        }
        let slack: ProviderTokenResponse = serde_json::from_str(
            r#"{"access_token":"x","token_type":"bot","team":{"id":"T1","name":"Acme"}}"#,
        )
        .unwrap();
        assert_eq!(
            slack.extra_fields().team.as_ref().unwrap().id.as_deref(),
            Some("T1")
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some("nonsense")), None);
        assert_eq!(parse_retry_after(None), None);
        let past = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(parse_retry_after(Some(past)), Some(Duration::ZERO));
    }

    #[test]
    fn authorize_url_carries_state_pkce_and_scopes() {
        let settings = ProviderSettings {
            client_id: "cid".into(),
            client_secret: "secret".to_string().into(),
            authorize_url: "http://127.0.0.1:9/authorize".into(),
            token_url: "http://127.0.0.1:9/token".into(),
            api_base_url: "http://127.0.0.1:9/api".into(),
            revoke_url: String::new(),
            scopes: "chat:write, channels:read".into(),
            requests_per_minute: 60,
            burst: 1,
        };
        let http = reqwest::Client::new();
        let verifier = new_verifier();
        let url = OAuthProvider::new(Provider::Slack, &settings, &http)
            .authorize_url("http://127.0.0.1:9/cb", "the-state", &verifier)
            .unwrap();
        let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "the-state");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "chat:write,channels:read");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:9/cb");
        let expected =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
        assert_eq!(&q["code_challenge"], expected.as_str());
    }
}
