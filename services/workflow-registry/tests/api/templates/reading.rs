//! Reading the library: listed by category, read one by one, described in OpenAPI.

use super::*;

#[tokio::test]
async fn the_library_lists_at_least_twelve_templates_across_the_five_categories() {
    let app = spawn_app().await;

    let (status, body) = app.list_templates("").await;

    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert!(items.len() >= 12, "{} templates", items.len());
    assert_eq!(body["total"], items.len());
    let categories: BTreeSet<&str> = items
        .iter()
        .map(|t| t["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, CATEGORIES.into_iter().collect());
    let ids: BTreeSet<&str> = items.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), items.len(), "ids are unique");
    for wanted in [
        "lead-capture-crm",
        "negative-sentiment-escalation",
        "service-appointment-request",
        "parts-availability-lookup",
        "daily-sales-summary-slack",
    ] {
        assert!(ids.contains(wanted), "{wanted} missing from {ids:?}");
    }
    for t in items {
        assert!(t["name"].as_str().is_some_and(|n| !n.is_empty()), "{t}");
        assert!(
            t["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{t}"
        );
        assert!(
            t["trigger_type"].as_str().unwrap().starts_with("trigger."),
            "{t}"
        );
        assert!(t["params"].is_array(), "{t}");
        assert!(t.get("flow_definition").is_none(), "the list is light: {t}");
    }
}

#[tokio::test]
async fn templates_are_filtered_by_category() {
    let app = spawn_app().await;
    let (_, all) = app.list_templates("").await;

    let mut seen = 0;
    for category in CATEGORIES {
        let (status, body) = app
            .list_templates(&format!("?category={}", category.to_lowercase()))
            .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().unwrap();
        assert!(!items.is_empty(), "no {category} templates");
        assert!(
            items.iter().all(|t| t["category"] == category),
            "{category}: {body}"
        );
        seen += items.len();
    }
    assert_eq!(seen, all["items"].as_array().unwrap().len());

    for unknown in ["?category=Finance", "?category="] {
        let (status, body) = app.list_templates(unknown).await;
        assert_eq!(status, 422, "{unknown}: {body}");
        let error = assert_error(&body, "VALIDATION_ERROR");
        assert_eq!(error["details"]["path"], "category");
    }
}

#[tokio::test]
async fn a_template_is_returned_with_its_params_and_definition() {
    let app = spawn_app().await;

    let (status, body) = app.get_template("lead-capture-crm").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "lead-capture-crm");
    assert_eq!(body["category"], "Sales");
    assert_eq!(body["trigger_type"], "trigger.webhook");
    let params = body["params"].as_array().unwrap();
    let crm_url = params.iter().find(|p| p["name"] == "crm_url").unwrap();
    assert_eq!(crm_url["type"], "url");
    assert_eq!(crm_url["required"], true);
    assert!(
        crm_url["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let attempts = params.iter().find(|p| p["name"] == "max_attempts").unwrap();
    assert_eq!(attempts["type"], "integer");
    assert_eq!(attempts["required"], false);
    assert_eq!(attempts["default"], 3);
    let nodes = nodes_by_id(&body["flow_definition"]);
    assert_eq!(nodes["crm"]["data"]["config"]["url"], "[[ crm_url ]]");
    assert_eq!(
        nodes["lead"]["data"]["config"]["values"]["email"],
        "{{ trigger.data.body.email }}"
    );
}

#[tokio::test]
async fn an_unknown_template_is_404() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;

    let (status, body) = app.get_template("no-such-template").await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");

    let (status, body) = app
        .instantiate(
            "no-such-template",
            &json!({"chatbot_id": chatbot, "params": {}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
}

#[tokio::test]
async fn templates_need_a_signed_in_user() {
    let app = spawn_app().await;

    for path in ["/api/v1/templates", "/api/v1/templates/lead-capture-crm"] {
        let (status, body) = app.template_get_as(None, path).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/templates/lead-capture-crm/instantiate"))
        .json(&json!({"chatbot_id": Uuid::new_v4(), "params": lead_capture_params()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn the_openapi_document_describes_the_template_routes() {
    let app = spawn_app().await;

    let (status, doc) = app.template_get_as(None, "/api/openapi.json").await;

    assert_eq!(status, 200, "{doc}");
    for path in [
        "/api/v1/templates",
        "/api/v1/templates/{id}",
        "/api/v1/templates/{id}/instantiate",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    for schema in ["TemplateDetail", "InstantiateTemplate", "ParamSpec"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} missing"
        );
    }
}
