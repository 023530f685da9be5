//! Run with: cargo test -p echoflow-integrations --test api rotation
//!
//! Re-encrypting every token under a new key.

use std::sync::Mutex;

use echoflow_integrations::store::{connections, oauth_states};
use echoflow_integrations::tokens::open;
use echoflow_integrations::{Keyring, Settings, reencrypt_all, reencrypt_from_settings};
use echoflow_service_kit::Service as _;
use sea_orm::EntityTrait;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn tokens_are_reencrypted_under_a_new_key_and_the_old_key_is_no_longer_needed() {
    let app = spawn_app().await;
    let slack = app
        .connect(
            "slack",
            token_body("slack", "xoxb-A", Some("xoxe-R"), Some(43200)),
        )
        .await;
    app.connect(
        "hubspot",
        token_body("hubspot", "hs-A", Some("hs-R"), Some(1800)),
    )
    .await;
    // A connect in progress: its PKCE verifier is sealed too.
    let (pending_state, pending_query) = app.start_connect_as(&app.token, "google_sheets").await;
    let db = app.db().await;

    let both = format!("{},{}", key_entry("k1", 7), key_entry("k2", 9));
    let rotated = Keyring::parse(&SecretString::from(both.clone()), "k2").unwrap();
    let seen = Mutex::new(Vec::new());
    let changed = reencrypt_all(&db, &rotated, |done, total| {
        seen.lock().unwrap().push((done, total));
    })
    .await
    .unwrap();
    assert_eq!(changed, 3);
    assert_eq!(*seen.lock().unwrap(), vec![(1, 3), (2, 3), (3, 3)]);
    // Idempotent: a second run finds nothing to do.
    assert_eq!(reencrypt_all(&db, &rotated, |_, _| {}).await.unwrap(), 0);

    let only_new = Keyring::parse(&SecretString::from(key_entry("k2", 9)), "k2").unwrap();
    let rows = connections::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.key_id, "k2");
        let (access, refresh) = open(&only_new, row).unwrap();
        assert!(access == "xoxb-A" || access == "hs-A", "{access}");
        assert!(refresh.is_some());
        assert!(
            open(&app.keyring(), row).is_err(),
            "the old key must not open it"
        );
    }
    let states = oauth_states::Entity::find().all(&db).await.unwrap();
    assert!(
        states
            .iter()
            .filter(|s| s.used_at.is_none())
            .all(|s| s.key_id == "k2")
    );

    // An instance holding only the new key still works with everything.
    let fresh = spawn_sibling(
        &app,
        vec![
            ("integrations.encryption_keys".into(), key_entry("k2", 9)),
            ("integrations.active_key_id".into(), "k2".into()),
        ],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/slack/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-A"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "9.9"})),
        )
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, body) = fresh
        .action(
            "slack_post_message",
            &app.action_body(&slack, json!({"channel": "C1", "text": "after rotation"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // ...and the pending connect completes (its verifier decrypts under k2).
    Mock::given(method("POST"))
        .and(path("/google_sheets/token"))
        .and(CodeExchange {
            provider: "google_sheets".into(),
            code: "late-code".into(),
            challenge: pending_query["code_challenge"].clone(),
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(
            "google_sheets",
            "g-A",
            Some("g-R"),
            Some(3600),
        )))
        .expect(1)
        .mount(&app.provider)
        .await;
    let (status, body) = fresh
        .callback(
            "google_sheets",
            &[("code", "late-code"), ("state", &pending_state)],
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn the_cli_entry_point_opens_the_database_and_keyring_from_settings() {
    let app = spawn_app().await;
    app.connect("slack", token_body("slack", "xoxb-A", None, None))
        .await;
    let both = format!("{},{}", key_entry("k1", 7), key_entry("k3", 3));
    let all = overrides(
        &app.settings_db_url(),
        &app.provider.uri(),
        vec![
            ("integrations.encryption_keys".into(), both),
            ("integrations.active_key_id".into(), "k3".into()),
        ],
    );
    let borrowed: Vec<(&str, String)> = all.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let settings = Settings::load(&borrowed).unwrap();
    let changed = reencrypt_from_settings(&settings, |_, _| {}).await.unwrap();
    assert_eq!(changed, 1);
    let db = app.db().await;
    let row = connections::Entity::find().one(&db).await.unwrap().unwrap();
    assert_eq!(row.key_id, "k3");

    // A keyring that lacks a row's key is refused with a clear error.
    let wrong = overrides(
        &app.settings_db_url(),
        &app.provider.uri(),
        vec![
            ("integrations.encryption_keys".into(), key_entry("k4", 4)),
            ("integrations.active_key_id".into(), "k4".into()),
        ],
    );
    let borrowed: Vec<(&str, String)> =
        wrong.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let settings = Settings::load(&borrowed).unwrap();
    let err = reencrypt_from_settings(&settings, |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("k3"), "{err}");
}

#[tokio::test]
async fn a_bad_keyring_stops_the_start() {
    let db = PgDatabase::new().await;
    for (keys, active) in [
        (format!("k:{}", "c2hvcnQ="), "k"),
        (key_entry("k1", 1), "missing"),
    ] {
        let all = overrides(
            &db.url(),
            "http://127.0.0.1:9",
            vec![
                ("integrations.encryption_keys".into(), keys),
                ("integrations.active_key_id".into(), active.into()),
            ],
        );
        let borrowed: Vec<(&str, String)> =
            all.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let settings = Settings::load(&borrowed).unwrap();
        let bus: echoflow_bus::SharedBus = std::sync::Arc::new(echoflow_bus::InProcessBus::new());
        let err = echoflow_integrations::Application::build(settings, bus)
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("integrations."), "{err}");
    }
}
