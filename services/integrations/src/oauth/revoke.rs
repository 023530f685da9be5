//! Revoking a connection's grant at its provider when the user deletes the
//! connection, so the tokens stop working there too (not only here).

use serde_json::Value;

use crate::provider::Provider;
use crate::settings::ProviderSettings;

/// What became of the grant at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The provider revoked it, or says it was already invalid.
    Yes,
    /// The provider could not be reached or refused: the grant may still
    /// be valid there until the user removes the app.
    Failed(String),
    /// No revoke endpoint is configured (or no token to revoke with).
    NotAttempted,
}

impl Revoked {
    /// The `X-Echoflow-Revoked` header value.
    pub fn as_header(&self) -> &'static str {
        match self {
            Revoked::Yes => "true",
            Revoked::Failed(_) => "false",
            Revoked::NotAttempted => "not_attempted",
        }
    }
}

/// Revokes the grant behind `access` / `refresh` at `provider`:
/// - Slack: `POST auth.revoke` with the access token as bearer;
/// - Google and Salesforce: `POST` the form `token=<refresh or access>`;
/// - HubSpot: `DELETE <revoke_url>/<refresh token>`.
///
/// A token the provider already considers invalid counts as revoked.
pub async fn revoke(
    http: &reqwest::Client,
    provider: Provider,
    settings: &ProviderSettings,
    access: &str,
    refresh: Option<&str>,
) -> Revoked {
    let url = settings.revoke_url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Revoked::NotAttempted;
    }
    let request = match provider {
        Provider::Slack => http.post(url).bearer_auth(access),
        Provider::GoogleSheets | Provider::Salesforce => {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", refresh.unwrap_or(access))
                .finish();
            http.post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form)
        }
        Provider::Hubspot => match refresh {
            // The path segment is the token, percent-encoded.
            Some(token) => match reqwest::Url::parse(url) {
                Ok(mut u) => {
                    if let Ok(mut segments) = u.path_segments_mut() {
                        segments.push(token);
                    }
                    http.delete(u)
                }
                Err(e) => return Revoked::Failed(format!("bad revoke_url: {e}")),
            },
            None => return Revoked::NotAttempted,
        },
    };
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Revoked::Failed(format!("{provider} could not be reached: {e}")),
    };
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match (provider, status) {
        (Provider::Slack, 200) => match body["ok"].as_bool() {
            Some(true) => Revoked::Yes,
            _ => match body["error"].as_str() {
                Some("invalid_auth" | "token_revoked" | "account_inactive" | "not_authed") => {
                    Revoked::Yes
                }
                other => Revoked::Failed(format!("slack answered {}", other.unwrap_or("no ok"))),
            },
        },
        (_, 200 | 204) => Revoked::Yes,
        // Google: 400 invalid_token; Salesforce: 400 unsupported_token_type
        // for an already revoked one; HubSpot: 404 for an unknown token.
        (Provider::GoogleSheets | Provider::Salesforce, 400)
            if body["error"] == "invalid_token" || body["error"] == "invalid_request" =>
        {
            Revoked::Yes
        }
        (Provider::Hubspot, 404) => Revoked::Yes,
        (_, status) => Revoked::Failed(format!("{provider} answered {status}")),
    }
}
