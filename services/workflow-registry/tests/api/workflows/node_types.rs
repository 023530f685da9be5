//! The node-type catalogue: the available types with their config schema.

use super::*;

#[tokio::test]
async fn node_types_lists_the_available_types_with_their_config_schema() {
    let app = spawn_app().await;

    let (status, body) = read(
        app.client
            .get(app.url("/api/v1/node-types"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let types: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    for expected in [
        "trigger.webhook",
        "trigger.manual",
        "trigger.event",
        "action.http_request",
        "action.set",
        "condition.if",
        "condition.switch",
        "action.delay",
        "flow.merge",
        "action.ai_text",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    assert!(
        !types.contains(&"trigger.image_uploaded"),
        "unavailable type listed"
    );
    assert_eq!(body["total"], items.len());
    for item in items {
        assert_eq!(item["config_schema"]["type"], "object", "{item}");
        assert!(item["category"].is_string() && item["label"].is_string());
    }
    let http = items
        .iter()
        .find(|i| i["type"] == "action.http_request")
        .unwrap();
    let required = http["config_schema"]["required"].as_array().unwrap();
    assert!(required.contains(&json!("url")) && required.contains(&json!("method")));
    let event = items.iter().find(|i| i["type"] == "trigger.event").unwrap();
    assert!(
        event["config_schema"]["properties"]
            .get("event_type")
            .is_some()
    );
}
