//! Instantiating with typed parameters: every template makes a valid workflow;
//! bad parameters are 422 naming their path.

use super::*;

/// Walks the whole library: each template, with its defaults and a valid
/// value for each required parameter, becomes a valid, stored workflow.
#[tokio::test]
async fn every_template_instantiates_into_a_valid_workflow() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let (_, list) = app.list_templates("").await;

    for summary in list["items"].as_array().unwrap() {
        let id = summary["id"].as_str().unwrap();
        let (status, template) = app.get_template(id).await;
        assert_eq!(status, 200, "{id}: {template}");

        let created = app
            .instantiated(
                id,
                &json!({"chatbot_id": chatbot, "params": sample_params(&template)}),
            )
            .await;

        assert_eq!(created["name"], template["name"], "{id}");
        assert_eq!(created["description"], template["description"], "{id}");
        assert_eq!(created["chatbot_id"], chatbot.to_string(), "{id}");
        assert_eq!(created["is_active"], true, "{id}");
        assert_eq!(created["version"], 1, "{id}");
        assert_eq!(created["trigger_type"], template["trigger_type"], "{id}");
        assert_eq!(
            created["webhook_url"].is_string(),
            template["trigger_type"] == "trigger.webhook",
            "{id}: a webhook URL exactly for webhook triggers: {created}"
        );
        let (status, stored) = app.get_workflow(created["id"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{id}: {stored}");
        let definition = stored["flow_definition"].to_string();
        assert!(
            !definition.contains("[["),
            "{id}: a placeholder survived: {definition}"
        );
        assert_eq!(
            nodes_by_id(&stored["flow_definition"]).len(),
            nodes_by_id(&template["flow_definition"]).len(),
            "{id}"
        );
    }
    let (_, workflows) = app.list_workflows("").await;
    assert_eq!(workflows["total"], list["total"]);
}

#[tokio::test]
async fn a_missing_required_param_is_422_with_its_path() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let mut params = lead_capture_params();
    params.as_object_mut().unwrap().remove("crm_url");

    let (status, body) = app
        .instantiate(
            "lead-capture-crm",
            &json!({"chatbot_id": chatbot, "params": params}),
        )
        .await;

    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "VALIDATION_ERROR");
    assert_eq!(error["details"]["path"], "params.crm_url");

    // No params at all: every required one is named.
    let (status, body) = app
        .instantiate("lead-capture-crm", &json!({"chatbot_id": chatbot}))
        .await;
    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "VALIDATION_ERROR");
    let paths: Vec<&str> = error["details"]["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["params.crm_url", "params.crm_api_key"]);
    let (_, workflows) = app.list_workflows("").await;
    assert_eq!(workflows["total"], 0);
}

#[tokio::test]
async fn a_wrongly_typed_param_is_422_with_its_path() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let cases = [
        (
            "lead-capture-crm",
            "crm_url",
            json!("ftp://crm.example.com/leads"),
        ),
        (
            "lead-capture-crm",
            "crm_url",
            json!("crm.example.com/leads"),
        ),
        ("lead-capture-crm", "crm_url", json!(42)),
        ("lead-capture-crm", "crm_api_key", json!(12345)),
        ("lead-capture-crm", "max_attempts", json!("5")),
        ("lead-capture-crm", "max_attempts", json!(2.5)),
        ("lead-capture-crm", "max_attempts", json!(11)),
        ("negative-sentiment-escalation", "threshold", json!("low")),
        ("negative-sentiment-escalation", "threshold", json!(-2)),
        (
            "negative-sentiment-escalation",
            "priority",
            json!("whenever"),
        ),
        ("newsletter-signup", "double_opt_in", json!("yes")),
        ("service-due-reminder", "from_email", json!("not-an-email")),
        ("service-due-reminder", "from_email", json!("service@")),
    ];
    for (id, param, value) in cases {
        let (_, template) = app.get_template(id).await;
        let mut params = sample_params(&template);
        params.insert(param.to_string(), value.clone());

        let (status, body) = app
            .instantiate(id, &json!({"chatbot_id": chatbot, "params": params}))
            .await;

        assert_eq!(status, 422, "{id}.{param} = {value}: {body}");
        let error = assert_error(&body, "VALIDATION_ERROR");
        assert_eq!(
            error["details"]["path"],
            format!("params.{param}"),
            "{id}.{param} = {value}: {body}"
        );
    }

    let (status, body) = app
        .instantiate(
            "lead-capture-crm",
            &json!({"chatbot_id": chatbot, "params": ["not", "an", "object"]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        assert_error(&body, "VALIDATION_ERROR")["details"]["path"],
        "params"
    );
    let (_, workflows) = app.list_workflows("").await;
    assert_eq!(workflows["total"], 0);
}

#[tokio::test]
async fn an_unknown_param_is_422_with_its_path() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let mut params = lead_capture_params();
    params["crm_token"] = json!("a typo of crm_api_key");

    let (status, body) = app
        .instantiate(
            "lead-capture-crm",
            &json!({"chatbot_id": chatbot, "params": params}),
        )
        .await;

    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "VALIDATION_ERROR");
    assert_eq!(error["details"]["path"], "params.crm_token");
}

#[tokio::test]
async fn values_that_make_an_invalid_workflow_are_422_invalid_workflow() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;

    // A well-typed string that breaks the runtime expression syntax of the
    // message it lands in.
    let (status, body) = app
        .instantiate(
            "welcome-new-conversation",
            &json!({"chatbot_id": chatbot, "params": {
                "dealership_name": "Autohaus Example",
                "welcome_message": "Ask me {{ anything"
            }}),
        )
        .await;

    assert_eq!(status, 422, "{body}");
    let error = assert_error(&body, "INVALID_WORKFLOW");
    let path = error["details"]["path"].as_str().unwrap();
    assert!(
        path.starts_with("flow_definition.nodes[") && path.ends_with(".data.config.text"),
        "{path}"
    );
}

#[tokio::test]
async fn another_users_chatbot_is_404_and_nothing_is_created() {
    let app = spawn_app().await;
    let stranger = app.token_for(Uuid::new_v4());
    let their_chatbot = app.chatbot_as(&stranger).await;

    for chatbot in [their_chatbot, Uuid::new_v4()] {
        let (status, body) = app
            .instantiate(
                "lead-capture-crm",
                &json!({"chatbot_id": chatbot, "params": lead_capture_params()}),
            )
            .await;
        assert_eq!(status, 404, "{body}");
        let error = assert_error(&body, "NOT_FOUND");
        assert_eq!(error["details"]["path"], "chatbot_id");
    }
    let (_, workflows) = app.list_workflows("").await;
    assert_eq!(workflows["total"], 0);
}

#[tokio::test]
async fn typed_params_keep_their_type_and_defaults_fill_the_rest() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;

    let created = app
        .instantiated(
            "negative-sentiment-escalation",
            &json!({
                "chatbot_id": chatbot,
                "name": "Escalate unhappy customers",
                "is_active": false,
                "params": {
                    "ticketing_url": "https://helpdesk.example.com/api/tickets",
                    "ticketing_api_key": "hd-key",
                    "threshold": -0.3,
                    "priority": "urgent"
                }
            }),
        )
        .await;

    assert_eq!(created["name"], "Escalate unhappy customers");
    assert_eq!(created["is_active"], false);
    let nodes = nodes_by_id(&created["flow_definition"]);
    let trigger = &nodes["sentiment"]["data"]["config"];
    assert_eq!(trigger["threshold"], json!(-0.3), "a number stays a number");
    assert_eq!(
        trigger["debounce_seconds"],
        json!(1800),
        "the default, typed"
    );
    let ticket = &nodes["ticket"]["data"]["config"];
    assert_eq!(ticket["url"], "https://helpdesk.example.com/api/tickets");
    assert_eq!(ticket["headers"]["Authorization"], "Bearer hd-key");
    assert_eq!(ticket["body"]["priority"], "urgent");
    assert_eq!(
        ticket["body"]["description"],
        "Sentiment {{ trigger.data.score }} on: {{ trigger.data.text }}",
        "runtime expressions are kept for the executor"
    );
    assert_eq!(nodes["tag"]["data"]["config"]["tag"], "escalated");
}
