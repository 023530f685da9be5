//! Run with: cargo test -p echoflow-integrations --test api revoke
//!
//! Deleting a connection revokes its grant at the provider, each the way
//! its provider wants it; the connection is deleted whatever the provider
//! answers, and `X-Echoflow-Revoked` tells how it went.

use serde_json::{Value, json};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Deletes `connection`; the `X-Echoflow-Revoked` header. The connection is gone.
async fn delete(app: &TestApp, connection: &Value) -> String {
    let id = connection["id"].as_str().unwrap();
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/integrations/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let revoked = response
        .headers()
        .get("x-echoflow-revoked")
        .expect("the header is always there")
        .to_str()
        .unwrap()
        .to_string();
    let list = app.list().await;
    let left: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        !left.contains(&id),
        "deleted whatever the provider said: {list}"
    );
    revoked
}

#[tokio::test]
async fn deleting_revokes_the_grant_at_each_provider() {
    let app = spawn_app().await;
    let slack = app
        .connect(
            "slack",
            token_body("slack", "xoxe-access", Some("xoxe-refresh"), Some(43200)),
        )
        .await;
    let sheets = app
        .connect(
            "google_sheets",
            token_body(
                "google_sheets",
                "ya29.access",
                Some("1//refresh"),
                Some(3599),
            ),
        )
        .await;
    let hubspot = app
        .connect(
            "hubspot",
            token_body("hubspot", "hs-access", Some("hs-refresh/1+2"), Some(1800)),
        )
        .await;
    let mut sf_tokens = token_body("salesforce", "sf-access", Some("sf-refresh"), None);
    sf_tokens["instance_url"] = json!(format!("{}/salesforce/instance", app.provider.uri()));
    let salesforce = app.connect("salesforce", sf_tokens).await;
    Mock::given(method("POST"))
        .and(path("/slack/revoke"))
        .and(header("authorization", "Bearer xoxe-access"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": true, "revoked": true})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/google_sheets/revoke"))
        .and(body_string("token=1%2F%2Frefresh"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&app.provider)
        .await;
    // The token is one path segment, percent-encoded.
    Mock::given(method("DELETE"))
        .and(path("/hubspot/revoke/hs-refresh%2F1+2"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/salesforce/revoke"))
        .and(body_string("token=sf-refresh"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&app.provider)
        .await;

    for connection in [&slack, &sheets, &hubspot, &salesforce] {
        let revoked = delete(&app, connection).await;
        assert_eq!(revoked, "true", "{connection}");
    }
    assert_eq!(app.list().await["total"], 0);
}

#[tokio::test]
async fn a_grant_the_provider_already_dropped_counts_as_revoked() {
    let app = spawn_app().await;
    let slack = app
        .connect("slack", token_body("slack", "xoxb-old", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/revoke"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "token_revoked"})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    assert_eq!(delete(&app, &slack).await, "true");
}

#[tokio::test]
async fn a_provider_that_cannot_revoke_does_not_keep_the_connection() {
    let app = spawn_app().await;
    let sheets = app
        .connect(
            "google_sheets",
            token_body("google_sheets", "ya29.a", Some("1//r"), Some(3599)),
        )
        .await;
    Mock::given(method("POST"))
        .and(path("/google_sheets/revoke"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&app.provider)
        .await;
    assert_eq!(delete(&app, &sheets).await, "false");
}

#[tokio::test]
async fn without_a_revoke_endpoint_nothing_is_sent() {
    let app = spawn_app_with(vec![(
        "integrations.providers.slack.revoke_url".into(),
        String::new(),
    )])
    .await;
    let slack = app
        .connect("slack", token_body("slack", "xoxb-1", None, None))
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/revoke"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(0)
        .mount(&app.provider)
        .await;
    assert_eq!(delete(&app, &slack).await, "not_attempted");
}
