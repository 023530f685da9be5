//! Run with: cargo test -p echoflow-integrations --test api ownership
//!
//! A user only ever sees and uses their own connections.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn another_users_connection_does_not_exist_for_them() {
    let app = spawn_app().await;
    let connection = app
        .connect("slack", token_body("slack", "A1", None, None))
        .await;
    let id = connection["id"].as_str().unwrap();
    // Nothing may reach the provider on B's behalf.
    Mock::given(method("POST"))
        .and(path("/slack/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&app.provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/slack/api/auth.test"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&app.provider)
        .await;
    let (b_id, b_token) = app.other_user();

    let list = app.list_as(&b_token).await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(list["total"], 0);
    let (status, body) = app
        .post_as(&b_token, &format!("/api/v1/integrations/{id}/test"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, body) = app
        .delete_as(&b_token, &format!("/api/v1/integrations/{id}"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .internal_get(
            Some(INTERNAL_TOKEN),
            &format!("/internal/connections/{id}?owner_id={b_id}"),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let mut action = app.action_body(&connection, json!({"channel": "C1", "text": "hi"}));
    action["owner_id"] = json!(b_id);
    let (status, body) = app.action("slack_post_message", &action).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");

    // The owner sees it, and the registry/executor can check it.
    let (status, body) = app
        .internal_get(
            Some(INTERNAL_TOKEN),
            &format!("/internal/connections/{id}?owner_id={}", app.user_id),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": id, "provider": "slack", "owner_id": app.user_id, "status": "active"})
    );
    assert_eq!(app.list().await["total"], 1);
    let (status, _) = app
        .delete_as(&app.token, &format!("/api/v1/integrations/{id}"))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.list().await["total"], 0);
    let (status, _) = app
        .internal_get(
            Some(INTERNAL_TOKEN),
            &format!("/internal/connections/{id}?owner_id={}", app.user_id),
        )
        .await;
    assert_eq!(status, 404);
}
