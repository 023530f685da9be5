//! Run with: cargo test -p echoflow-integrations --test api connect
//!
//! Connecting an account: the authorization URL, the callback's state
//! checks, the PKCE code exchange, and tokens that never show in clear.

use chrono::Utc;
use echoflow_integrations::store::{connections, oauth_states};
use echoflow_integrations::tokens::open;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, JsonValue, QueryFilter, Statement};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// The fake token endpoint answers 500 to anything no test expects, and
/// the test fails if it is called at all (checked when the fake drops).
async fn no_other_token_calls(app: &TestApp, provider: &str) {
    Mock::given(method("POST"))
        .and(path(format!("/{provider}/token")))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(10)
        .expect(0)
        .mount(&app.provider)
        .await;
}

async fn connect_end_to_end(app: TestApp) {
    no_other_token_calls(&app, "slack").await;
    let (state, query) = app.start_connect_as(&app.token, "slack").await;
    assert_eq!(query["client_id"], "slack-client");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "chat:write,channels:read");
    assert_eq!(
        query["redirect_uri"],
        format!("{REDIRECT_BASE}/api/v1/integrations/slack/callback")
    );
    let challenge = query["code_challenge"].clone();
    assert_eq!(challenge.len(), 43, "a base64url SHA-256: {challenge}");
    assert!(state.len() >= 32);

    Mock::given(method("POST"))
        .and(path("/slack/token"))
        .and(CodeExchange {
            provider: "slack".into(),
            code: "the-code".into(),
            challenge,
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(
            "slack",
            "xoxb-access-secret",
            Some("xoxe-refresh-secret"),
            Some(43200),
        )))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, connection) = app
        .callback("slack", &[("code", "the-code"), ("state", &state)], None)
        .await;
    assert_eq!(status, 201, "{connection}");
    assert_eq!(connection["provider"], "slack");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["name"], "Acme");
    assert_eq!(connection["account"], "T0001");
    assert_eq!(connection["scopes"], json!(["chat:write", "channels:read"]));
    assert!(connection["expires_at"].is_string());
    let text = connection.to_string();
    assert!(!text.contains("xoxb") && !text.contains("xoxe"), "{text}");
    assert!(connection.get("access_token").is_none() && connection.get("refresh_token").is_none());

    let list = app.list().await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], connection["id"]);
    assert!(!list.to_string().contains("xox"), "{list}");

    // The same state again: spent.
    let (status, body) = app
        .callback("slack", &[("code", "the-code"), ("state", &state)], None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "INVALID_STATE");
    // A state nobody issued.
    let (status, body) = app
        .callback(
            "slack",
            &[("code", "c"), ("state", "forged-state-value")],
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "INVALID_STATE");
    // No state at all.
    let (status, body) = app.callback("slack", &[("code", "c")], None).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "INVALID_STATE");

    // An expired state.
    let (expired, _) = app.start_connect_as(&app.token, "slack").await;
    let db = app.db().await;
    oauth_states::Entity::update_many()
        .col_expr(
            oauth_states::Column::ExpiresAt,
            Expr::value(Utc::now() - chrono::Duration::seconds(5)),
        )
        .filter(oauth_states::Column::StateHash.eq(oauth_states::hash(&expired)))
        .exec(&db)
        .await
        .unwrap();
    let (status, body) = app
        .callback("slack", &[("code", "c"), ("state", &expired)], None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Another user's token on the callback: refused, the state stays usable.
    let (_, intruder) = app.other_user();
    let (pending, _) = app.start_connect_as(&app.token, "slack").await;
    let (status, body) = app
        .callback(
            "slack",
            &[("code", "c"), ("state", &pending)],
            Some(&intruder),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "FORBIDDEN");
    // The user refused at the provider.
    let (status, body) = app
        .callback(
            "slack",
            &[("error", "access_denied"), ("state", &pending)],
            Some(&app.token),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "ACCESS_DENIED");
    // A state of another provider.
    let (hubspot_state, _) = app.start_connect_as(&app.token, "hubspot").await;
    let (status, body) = app
        .callback("slack", &[("code", "c"), ("state", &hubspot_state)], None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "INVALID_STATE");

    // Nothing was stored by any refusal.
    assert_eq!(app.list().await["total"], 1);
    assert_eq!(connections::Entity::find().all(&db).await.unwrap().len(), 1);
}

#[tokio::test]
async fn connect_end_to_end_with_pkce_and_single_use_state() {
    connect_end_to_end(spawn_app().await).await;
}

#[tokio::test]
async fn connect_end_to_end_on_sqlite() {
    connect_end_to_end(spawn_sqlite_app().await).await;
}

#[tokio::test]
async fn the_database_holds_no_token_in_clear_text() {
    let app = spawn_app().await;
    let connection = app
        .connect(
            "hubspot",
            token_body(
                "hubspot",
                "hs-access-PLAINTEXT",
                Some("hs-refresh-PLAINTEXT"),
                Some(1800),
            ),
        )
        .await;
    let (state, _) = app.start_connect_as(&app.token, "hubspot").await;
    let db = app.db().await;
    let backend = db.get_database_backend();
    let rows =
        JsonValue::find_by_statement(Statement::from_string(backend, "SELECT * FROM connections"))
            .all(&db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    let row = rows[0].to_string();
    assert!(!row.contains("PLAINTEXT"), "a token in clear: {row}");
    assert_eq!(rows[0]["key_id"], "k1");
    assert_eq!(rows[0]["id"], connection["id"]);
    let states = JsonValue::find_by_statement(Statement::from_string(
        backend,
        "SELECT * FROM oauth_states",
    ))
    .all(&db)
    .await
    .unwrap();
    let text = serde_json::to_string(&states).unwrap();
    assert!(!text.contains(&state), "the raw state is stored: {text}");
    assert!(states.iter().all(|s| s["key_id"] == "k1"));

    // The service's keyring opens them.
    let model = connections::Entity::find().one(&db).await.unwrap().unwrap();
    let (access, refresh) = open(&app.keyring(), &model).unwrap();
    assert_eq!(access, "hs-access-PLAINTEXT");
    assert_eq!(refresh.as_deref(), Some("hs-refresh-PLAINTEXT"));
}

#[tokio::test]
async fn a_failing_token_endpoint_is_a_502_and_stores_nothing() {
    let app = spawn_app().await;
    let (state, _) = app.start_connect_as(&app.token, "google_sheets").await;
    Mock::given(method("POST"))
        .and(path("/google_sheets/token"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, body) = app
        .callback("google_sheets", &[("code", "c"), ("state", &state)], None)
        .await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "TOKEN_EXCHANGE_FAILED");
    assert_eq!(app.list().await["total"], 0);
}

#[tokio::test]
async fn a_code_the_provider_refuses_is_a_400_invalid_grant_and_stores_nothing() {
    let app = spawn_app().await;
    let (state, _) = app.start_connect_as(&app.token, "google_sheets").await;
    Mock::given(method("POST"))
        .and(path("/google_sheets/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant",
            "error_description": "Malformed auth code."
        })))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, body) = app
        .callback(
            "google_sheets",
            &[("code", "made-up"), ("state", &state)],
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "INVALID_GRANT");
    assert_eq!(app.list().await["total"], 0);
}

#[tokio::test]
async fn google_asks_for_offline_access_and_salesforce_keeps_its_instance_url() {
    let app = spawn_app().await;
    let (_, query) = app.start_connect_as(&app.token, "google_sheets").await;
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["prompt"], "consent");
    assert_eq!(
        query["scope"],
        "https://www.googleapis.com/auth/spreadsheets openid email"
    );
    let mut tokens = token_body("salesforce", "sf-access", Some("sf-refresh"), None);
    tokens["instance_url"] = json!(format!("{}/salesforce/instance", app.provider.uri()));
    let connection = app.connect("salesforce", tokens).await;
    assert_eq!(connection["account"], "00D000000000001/005000000000001");
    assert_eq!(connection["name"], "127.0.0.1");
    assert_eq!(connection["scopes"], json!(["api", "refresh_token"]));
    assert!(connection["expires_at"].is_null());

    // Connecting the same account again updates that connection.
    let mut again = token_body("salesforce", "sf-access-2", Some("sf-refresh-2"), None);
    again["instance_url"] = json!(format!("{}/salesforce/instance", app.provider.uri()));
    let reconnected = app.connect("salesforce", again).await;
    assert_eq!(reconnected["id"], connection["id"]);
    assert_eq!(app.list().await["total"], 1);
}

/// An unsigned OpenID Connect ID token naming `sub` and `email` (the
/// service reads its claims; it came from the token endpoint itself).
fn id_token(sub: &str, email: &str) -> String {
    use base64::Engine;
    let part = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(json!({"iss": "https://accounts.google.com", "sub": sub, "email": email}))
    )
}

#[tokio::test]
async fn a_google_account_is_known_by_its_id_token_and_reconnects_in_place() {
    let app = spawn_app().await;
    let mut tokens = token_body("google_sheets", "ya29.a", Some("1//r"), Some(3599));
    tokens["id_token"] = json!(id_token("1098765", "ana@example.com"));
    let connection = app.connect("google_sheets", tokens).await;
    assert_eq!(connection["account"], "1098765");
    assert_eq!(connection["name"], "ana@example.com");

    let mut again = token_body("google_sheets", "ya29.b", Some("1//r2"), Some(3599));
    again["id_token"] = json!(id_token("1098765", "ana@example.com"));
    let reconnected = app.connect("google_sheets", again).await;
    assert_eq!(reconnected["id"], connection["id"]);
    let mut other = token_body("google_sheets", "ya29.c", Some("1//r3"), Some(3599));
    other["id_token"] = json!(id_token("2000001", "bo@example.com"));
    let second = app.connect("google_sheets", other).await;
    assert_ne!(second["id"], connection["id"], "another Google account");
    assert_eq!(app.list().await["total"], 2);
}

#[tokio::test]
async fn a_hubspot_portal_is_known_by_its_token_lookup_and_reconnects_in_place() {
    let app = spawn_app().await;
    for token in ["hs-a", "hs-b"] {
        Mock::given(method("GET"))
            .and(path(format!("/hubspot/api/oauth/v1/access-tokens/{token}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token": token, "user": "ana@example.com", "hub_domain": "acme.hubspot.com",
                "hub_id": 4410, "app_id": 7, "expires_in": 1800, "token_type": "access"
            })))
            .expect(1)
            .mount(&app.provider)
            .await;
    }
    let connection = app
        .connect(
            "hubspot",
            token_body("hubspot", "hs-a", Some("hs-ra"), Some(1800)),
        )
        .await;
    assert_eq!(connection["account"], "4410");
    assert_eq!(connection["name"], "acme.hubspot.com");
    let reconnected = app
        .connect(
            "hubspot",
            token_body("hubspot", "hs-b", Some("hs-rb"), Some(1800)),
        )
        .await;
    assert_eq!(reconnected["id"], connection["id"]);
    assert_eq!(app.list().await["total"], 1);

    // A lookup that fails still connects, as a connection of its own.
    let unknown = app
        .connect(
            "hubspot",
            token_body("hubspot", "hs-c", Some("hs-rc"), Some(1800)),
        )
        .await;
    assert!(unknown["account"].is_null(), "{unknown}");
    assert_ne!(unknown["id"], connection["id"]);
}
