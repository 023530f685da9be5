//! The integrations journey both run modes must pass: connect Slack, Google
//! Sheets and HubSpot through OAuth (state + PKCE) against fake providers, a
//! workflow that posts to Slack and appends to a sheet, a revoked HubSpot
//! grant that fails its run, marks the connection and starts the workflow
//! listening for it, and another user who cannot use the connections.

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use echoflow_test_support::api::Api;

pub mod authentication;
pub mod journey;

pub const SLACK_ACCESS: &str = "xoxe.xoxb-e2e-slack-access-token";
pub const SLACK_REFRESH: &str = "xoxe-1-e2e-slack-refresh-token";
pub const SHEETS_ACCESS: &str = "ya29.e2e-sheets-access-token";
pub const SHEETS_REFRESH: &str = "1//e2e-sheets-refresh-token";
pub const HUBSPOT_ACCESS: &str = "e2e-hubspot-access-token";

/// Fake Slack, Google and HubSpot: authorize, token and API endpoints on loopback.
pub struct FakeProviders {
    pub slack: MockServer,
    pub google: MockServer,
    pub hubspot: MockServer,
}

impl FakeProviders {
    pub async fn start() -> Self {
        let slack = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/oauth.v2.access"))
            .and(body_string_contains("grant_type=authorization_code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ok": true, "token_type": "bot", "scope": "chat:write",
                "access_token": SLACK_ACCESS, "refresh_token": SLACK_REFRESH,
                "expires_in": 43200, "team": {"id": "T0E2E", "name": "Acme"}
            })))
            .mount(&slack)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(header("authorization", format!("Bearer {SLACK_ACCESS}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "ok": true, "channel": "C0LEADS", "ts": "1700000000.000100"
            })))
            .mount(&slack)
            .await;

        let google = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=authorization_code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": SHEETS_ACCESS, "refresh_token": SHEETS_REFRESH,
                "expires_in": 3599, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/spreadsheets"
            })))
            .mount(&google)
            .await;
        Mock::given(method("POST"))
            .and(path("/v4/spreadsheets/sheet-e2e/values/Sheet1:append"))
            .and(header("authorization", format!("Bearer {SHEETS_ACCESS}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "spreadsheetId": "sheet-e2e",
                "updates": {"updatedRange": "Sheet1!A2:B2", "updatedRows": 1}
            })))
            .mount(&google)
            .await;

        // HubSpot issues a token that is about to expire, and has since
        // revoked the grant: the refresh before the first call fails.
        let hubspot = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/v1/token"))
            .and(body_string_contains("grant_type=authorization_code"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": HUBSPOT_ACCESS, "refresh_token": "e2e-hubspot-refresh",
                "expires_in": 30, "token_type": "bearer"
            })))
            .mount(&hubspot)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/v1/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_grant", "error_description": "refresh token revoked"
            })))
            .expect(1)
            .mount(&hubspot)
            .await;
        Mock::given(method("POST"))
            .and(path("/crm/v3/objects/contacts"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "1"})))
            .expect(0)
            .mount(&hubspot)
            .await;
        Self {
            slack,
            google,
            hubspot,
        }
    }

    /// `ECHOFLOW_INTEGRATIONS__PROVIDERS__*` settings pointing at the fakes.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let mut provider = |name: &str, authorize: String, token: String, api: String| {
            let key = |k: &str| format!("ECHOFLOW_INTEGRATIONS__PROVIDERS__{name}__{k}");
            env.push((key("CLIENT_ID"), format!("{}-client", name.to_lowercase())));
            env.push((
                key("CLIENT_SECRET"),
                format!("{}-secret", name.to_lowercase()),
            ));
            env.push((key("AUTHORIZE_URL"), authorize));
            env.push((key("TOKEN_URL"), token));
            env.push((key("API_BASE_URL"), api.clone()));
            // Never the real provider, even for a delete no test expects.
            env.push((key("REVOKE_URL"), format!("{api}/revoke")));
        };
        let slack = self.slack.uri();
        provider(
            "SLACK",
            format!("{slack}/oauth/v2/authorize"),
            format!("{slack}/api/oauth.v2.access"),
            format!("{slack}/api"),
        );
        let google = self.google.uri();
        provider(
            "GOOGLE_SHEETS",
            format!("{google}/o/oauth2/v2/auth"),
            format!("{google}/token"),
            google.clone(),
        );
        let hubspot = self.hubspot.uri();
        provider(
            "HUBSPOT",
            format!("{hubspot}/oauth/authorize"),
            format!("{hubspot}/oauth/v1/token"),
            hubspot.clone(),
        );
        env
    }
}

/// Connects `provider` as the API's user: asks for the authorization URL,
/// checks its state and PKCE challenge, then comes back to the callback as
/// the provider would (no bearer token: the state names the user).
pub async fn connect(api: &Api, provider: &str) -> Value {
    let (status, body) = api
        .get(&format!("/api/v1/integrations/{provider}/connect"))
        .await;
    assert_eq!(status, 200, "{body}");
    let url = reqwest::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code", "{url}");
    assert_eq!(query["code_challenge_method"], "S256", "{url}");
    assert!(query["code_challenge"].len() >= 43, "{url}");
    assert!(
        query["redirect_uri"].ends_with(&format!("/api/v1/integrations/{provider}/callback")),
        "{url}"
    );
    let state = query["state"].clone();
    let callback = format!(
        "{}/api/v1/integrations/{provider}/callback?code=e2e-code&state={state}",
        api.base
    );
    let r = api.client.get(&callback).send().await.unwrap();
    let status = r.status().as_u16();
    let connection: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status == 200 || status == 201, "{status} {connection}");
    assert_eq!(connection["provider"], provider, "{connection}");
    assert_eq!(connection["status"], "active", "{connection}");
    // The state is single use.
    let again = api.client.get(&callback).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 400);
    connection
}

fn node(id: &str, node_type: &str, config: Value) -> Value {
    json!({"id": id, "type": node_type, "position": {"x": 0, "y": 0},
           "data": {"label": id, "config": config}})
}

fn chain(name: &str, chatbot_id: &str, nodes: Vec<Value>) -> Value {
    let edges: Vec<Value> = nodes
        .windows(2)
        .enumerate()
        .map(|(i, pair)| json!({"id": format!("e{i}"), "source": pair[0]["id"], "target": pair[1]["id"]}))
        .collect();
    json!({"name": name, "chatbot_id": chatbot_id,
           "flow_definition": {"nodes": nodes, "edges": edges}})
}

async fn create(api: &Api, workflow: &Value) -> Value {
    let (status, wf) = api.post("/api/v1/workflows", workflow).await;
    assert_eq!(status, 201, "{wf}");
    wf
}

/// Calls the webhook of `wf`; returns the execution id.
pub async fn hook(api: &Api, wf: &Value, body: &Value) -> String {
    let url = wf["webhook_url"].as_str().unwrap();
    let hook_path = &url[url.find("/hooks/").unwrap()..];
    let r = api
        .client
        .post(format!("{}{hook_path}", api.base))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.unwrap();
    body["execution_id"].as_str().unwrap().to_string()
}

/// The JSON bodies `server` received on `request_path`.
pub async fn received(server: &MockServer, request_path: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == request_path)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}
