//! What the provider fake checks and answers: query and form fields, the PKCE
//! challenge, the code exchange, token bodies.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::{Match, Request};

pub const REDIRECT_BASE: &str = "http://127.0.0.1:9/app";

/// The query of a URL as a map.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The form fields of a request body.
pub fn form_of(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// The PKCE S256 challenge of a verifier.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Matches a token request trading `code`, whose `code_verifier` hashes to
/// `challenge`, sent with the app's credentials and redirect URI.
pub struct CodeExchange {
    pub provider: String,
    pub code: String,
    pub challenge: String,
}

impl Match for CodeExchange {
    fn matches(&self, request: &Request) -> bool {
        let form = form_of(request);
        let p = &self.provider;
        let field = |k: &str| form.get(k).map(String::as_str);
        field("grant_type") == Some("authorization_code")
            && field("code") == Some(self.code.as_str())
            && field("client_id") == Some(format!("{p}-client").as_str())
            && field("client_secret") == Some(format!("{p}-secret").as_str())
            && field("redirect_uri")
                == Some(format!("{REDIRECT_BASE}/api/v1/integrations/{p}/callback").as_str())
            && field("code_verifier").is_some_and(|v| s256(v) == self.challenge)
    }
}

/// Matches a form body holding `field` = `value`.
pub struct Form(pub &'static str, pub String);

impl Match for Form {
    fn matches(&self, request: &Request) -> bool {
        form_of(request).get(self.0) == Some(&self.1)
    }
}

/// A token endpoint answer: standard fields, plus what `provider` adds.
pub fn token_body(
    provider: &str,
    access: &str,
    refresh: Option<&str>,
    expires_in: Option<u64>,
) -> Value {
    let mut body = json!({"access_token": access, "token_type": "Bearer"});
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if let Some(e) = expires_in {
        body["expires_in"] = json!(e);
    }
    match provider {
        "slack" => {
            body["ok"] = json!(true);
            body["token_type"] = json!("bot");
            body["scope"] = json!("chat:write,channels:read");
            body["team"] = json!({"id": "T0001", "name": "Acme"});
        }
        "salesforce" => {
            body["scope"] = json!("api refresh_token");
            body["id"] = json!("https://login.salesforce.com/id/00D000000000001/005000000000001");
        }
        _ => {}
    }
    body
}
