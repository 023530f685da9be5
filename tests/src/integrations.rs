//! The integrations journey both run modes must pass: connect Slack, Google
//! Sheets and HubSpot through OAuth (state + PKCE) against fake providers, a
//! workflow that posts to Slack and appends to a sheet, a revoked HubSpot
//! grant that fails its run, marks the connection and starts the workflow
//! listening for it, and another user who cannot use the connections.

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use echoflow_test_support::api::Api;

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

/// The whole journey; `other` is a second signed-up user. Returns the
/// workflow that posts to Slack and appends to the sheet.
pub async fn integrations_journey(api: &Api, other: &Api, fakes: &FakeProviders) -> Value {
    let slack = connect(api, "slack").await;
    let sheets = connect(api, "google_sheets").await;
    let hubspot = connect(api, "hubspot").await;
    let (status, list) = api.get("/api/v1/integrations").await;
    assert_eq!(status, 200, "{list}");
    let listed = list.to_string();
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    for secret in [
        SLACK_ACCESS,
        SLACK_REFRESH,
        SHEETS_ACCESS,
        SHEETS_REFRESH,
        HUBSPOT_ACCESS,
    ] {
        assert!(!listed.contains(secret), "a token is in the list: {listed}");
    }

    // A lead: posted to Slack and appended to the sheet.
    let lead = create(
        api,
        &chain(
            "lead to slack and sheets",
            api.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node("notify", "action.slack_post_message", json!({
                    "connection_id": slack["id"], "channel": "#leads",
                    "text": "New lead {{ trigger.data.body.email }}"
                })),
                node("log", "action.sheets_append_row", json!({
                    "connection_id": sheets["id"], "spreadsheet_id": "sheet-e2e", "range": "Sheet1",
                    "values": ["{{ trigger.data.body.email }}", "{{ trigger.data.body.name }}"]
                })),
            ],
        ),
    )
    .await;
    let run = hook(
        api,
        &lead,
        &json!({"email": "lea@example.com", "name": "Lea"}),
    )
    .await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let steps = execution["steps"].as_array().unwrap();
    assert_eq!(steps[0]["output"]["ts"], "1700000000.000100", "{execution}");
    assert_eq!(steps[1]["output"]["updated_rows"], 1, "{execution}");
    let posts = received(&fakes.slack, "/api/chat.postMessage").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["channel"], "#leads");
    assert_eq!(posts[0]["text"], "New lead lea@example.com");
    let rows = received(
        &fakes.google,
        "/v4/spreadsheets/sheet-e2e/values/Sheet1:append",
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["values"], json!([["lea@example.com", "Lea"]]));

    // The revoked HubSpot grant: the run fails with a clear error, the
    // connection needs reconnecting, and the workflow listening for it runs.
    let alert = create(
        api,
        &chain(
            "reconnect alert",
            api.chatbot_id(),
            vec![
                node(
                    "needs",
                    "trigger.event",
                    json!({"event_type": "integration.needs_reconnect"}),
                ),
                node(
                    "note",
                    "action.set",
                    json!({"values": {
                        "provider": "{{ trigger.data.provider }}",
                        "connection": "{{ trigger.data.connection_id }}"
                    }}),
                ),
            ],
        ),
    )
    .await;
    let crm = create(
        api,
        &chain(
            "lead to hubspot",
            api.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node(
                    "contact",
                    "action.hubspot_create_contact",
                    json!({
                        "connection_id": hubspot["id"], "email": "{{ trigger.data.body.email }}"
                    }),
                ),
            ],
        ),
    )
    .await;
    let run = hook(api, &crm, &json!({"email": "max@example.com"})).await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    let error = execution["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(error.contains("reconnect"), "{execution}");
    assert_eq!(execution["steps"][0]["attempts"], 1, "{execution}");
    let (_, list) = api.get("/api/v1/integrations").await;
    let status_of = |id: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == *id)
            .map(|c| c["status"].clone())
    };
    assert_eq!(
        status_of(&hubspot["id"]),
        Some(json!("needs_reconnect")),
        "{list}"
    );
    assert_eq!(status_of(&slack["id"]), Some(json!("active")), "{list}");
    let alerts = api.wait_runs(alert["id"].as_str().unwrap(), 1).await;
    let alert_run = api.wait_finished(alerts[0]["id"].as_str().unwrap()).await;
    assert_eq!(alert_run["status"], "completed", "{alert_run}");
    assert_eq!(
        alert_run["steps"][0]["output"]["provider"], "hubspot",
        "{alert_run}"
    );
    assert_eq!(
        alert_run["steps"][0]["output"]["connection"], hubspot["id"],
        "{alert_run}"
    );
    // Another run does not hit the token endpoint again (expect(1) above).
    let run = hook(api, &crm, &json!({"email": "max@example.com"})).await;
    assert_eq!(api.wait_finished(&run).await["status"], "failed");
    fakes.hubspot.verify().await;

    // Another user sees none of the connections and cannot use them.
    let (status, list) = other.get("/api/v1/integrations").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"], json!([]), "{list}");
    let slack_id = slack["id"].as_str().unwrap();
    let (status, body) = other
        .post(&format!("/api/v1/integrations/{slack_id}/test"), &json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        other
            .delete(&format!("/api/v1/integrations/{slack_id}"))
            .await,
        404
    );
    let (status, body) = other
        .post(
            "/api/v1/workflows",
            &chain(
                "borrowed slack",
                other.chatbot_id(),
                vec![
                    node("hook", "trigger.webhook", json!({})),
                    node(
                        "notify",
                        "action.slack_post_message",
                        json!({
                            "connection_id": slack_id, "channel": "#x", "text": "hi"
                        }),
                    ),
                ],
            ),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_WORKFLOW");
    assert_eq!(
        body["error"]["details"]["path"],
        "flow_definition.nodes[1].data.config.connection_id"
    );
    // Nor by an expression that only resolves when the step runs.
    let borrowed = create(
        other,
        &chain(
            "borrowed slack by expression",
            other.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node("notify", "action.slack_post_message", json!({
                    "connection_id": "{{ trigger.data.body.connection }}", "channel": "#x", "text": "hi"
                })),
            ],
        ),
    )
    .await;
    let run = hook(other, &borrowed, &json!({"connection": slack_id})).await;
    let execution = other.wait_finished(&run).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert!(
        execution["error"]
            .as_str()
            .unwrap_or_default()
            .contains("another user"),
        "{execution}"
    );
    assert_eq!(
        received(&fakes.slack, "/api/chat.postMessage").await.len(),
        1
    );
    lead
}

/// The authentication class, end to end: Google Sheets refuses the token
/// with 401. Integrations refreshes it and tries again once; when the
/// provider still refuses, the executor retries the step once more (with
/// the refreshed token). A provider that accepts the refreshed token on that
/// retry completes the run in 2 attempts; one that keeps refusing fails it
/// after 2. Counts every append and refresh the fake provider saw.
pub async fn authentication_class(api: &Api, fakes: &FakeProviders) {
    const REFRESHED: &str = "ya29.e2e-refreshed-access-token";
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": REFRESHED, "expires_in": 3599, "token_type": "Bearer"
        })))
        .mount(&fakes.google)
        .await;
    let unauthorized = ResponseTemplate::new(401).set_body_json(json!({
        "error": {"code": 401, "status": "UNAUTHENTICATED", "message": "Invalid Credentials"}
    }));
    // Refuses the first 2 appends (the old token, then the refreshed one).
    Mock::given(method("POST"))
        .and(path("/v4/spreadsheets/sheet-late/values/Sheet1:append"))
        .respond_with(unauthorized.clone())
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&fakes.google)
        .await;
    Mock::given(method("POST"))
        .and(path("/v4/spreadsheets/sheet-late/values/Sheet1:append"))
        .and(header("authorization", format!("Bearer {REFRESHED}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "spreadsheetId": "sheet-late",
            "updates": {"updatedRange": "Sheet1!A2:A2", "updatedRows": 1}
        })))
        .mount(&fakes.google)
        .await;
    Mock::given(method("POST"))
        .and(path("/v4/spreadsheets/sheet-never/values/Sheet1:append"))
        .respond_with(unauthorized)
        .mount(&fakes.google)
        .await;
    let sheets = connect(api, "google_sheets").await;
    let append_to = |sheet: &str| {
        chain(
            &format!("append to {sheet}"),
            api.chatbot_id(),
            vec![
                node("hook", "trigger.webhook", json!({})),
                node(
                    "log",
                    "action.sheets_append_row",
                    json!({
                        "connection_id": sheets["id"], "spreadsheet_id": sheet, "range": "Sheet1",
                        "values": ["{{ trigger.data.body.email }}"]
                    }),
                ),
            ],
        )
    };
    let refreshes = |requests: &[wiremock::Request]| {
        requests
            .iter()
            .filter(|r| {
                r.url.path() == "/token"
                    && String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token")
            })
            .count()
    };

    let late = create(api, &append_to("sheet-late")).await;
    let run = hook(api, &late, &json!({"email": "ana@example.com"})).await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["steps"][0]["attempts"], 2, "{execution}");
    assert_eq!(
        execution["steps"][0]["output"]["updated_rows"], 1,
        "{execution}"
    );
    let requests = fakes.google.received_requests().await.unwrap();
    let appends: Vec<&wiremock::Request> = requests
        .iter()
        .filter(|r| r.url.path() == "/v4/spreadsheets/sheet-late/values/Sheet1:append")
        .collect();
    let tokens: Vec<&str> = appends
        .iter()
        .map(|r| r.headers.get("authorization").unwrap().to_str().unwrap())
        .collect();
    let refreshed = format!("Bearer {REFRESHED}");
    assert_eq!(
        tokens,
        [
            format!("Bearer {SHEETS_ACCESS}"),
            refreshed.clone(),
            refreshed
        ],
        "attempt 1: the old token, one refresh, the new one; attempt 2: the new one"
    );
    assert_eq!(refreshes(&requests), 1);

    let never = create(api, &append_to("sheet-never")).await;
    let run = hook(api, &never, &json!({"email": "bo@example.com"})).await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["steps"][0]["attempts"], 2, "{execution}");
    let requests = fakes.google.received_requests().await.unwrap();
    let appends = received(
        &fakes.google,
        "/v4/spreadsheets/sheet-never/values/Sheet1:append",
    )
    .await;
    assert_eq!(
        appends.len(),
        4,
        "2 executor attempts x (1 call + 1 after a refresh)"
    );
    assert_eq!(refreshes(&requests), 3, "one refresh per executor attempt");
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
