//! Run with: cargo test -p echoflow-workflow-registry --test api templates
//!
//! The template library: listed by category, read one by one, and
//! instantiated with typed parameters into workflows of the caller's
//! chatbots that run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use echoflow_bus::topology::EXECUTOR_JOBS;
use echoflow_migrations::Slice;
use echoflow_workflow_registry::store::templates as stored;
use echoflow_workflow_registry::templates::library;
use sea_orm::{DatabaseConnection, EntityTrait};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::conversation_triggers_distributed::PgDatabase;
use crate::events::{event_ids, jobs_until};
use crate::helpers::{PUBLIC_URL, TestApp, assert_error, read, spawn_app, trigger_data};

const CATEGORIES: [&str; 5] = ["Sales", "Service", "Parts", "Support", "Marketing"];

impl TestApp {
    async fn template_get_as(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    async fn list_templates(&self, query: &str) -> (u16, Value) {
        self.template_get_as(Some(&self.token), &format!("/api/v1/templates{query}"))
            .await
    }

    async fn get_template(&self, id: &str) -> (u16, Value) {
        self.template_get_as(Some(&self.token), &format!("/api/v1/templates/{id}"))
            .await
    }

    async fn instantiate_as(&self, token: &str, id: &str, body: &Value) -> (u16, Value) {
        let request = self
            .client
            .post(self.url(&format!("/api/v1/templates/{id}/instantiate")))
            .bearer_auth(token)
            .json(body);
        read(request.send().await.unwrap()).await
    }

    async fn instantiate(&self, id: &str, body: &Value) -> (u16, Value) {
        self.instantiate_as(&self.token, id, body).await
    }

    /// Instantiates a template that must make a valid workflow; returns it.
    async fn instantiated(&self, id: &str, body: &Value) -> Value {
        let (status, created) = self.instantiate(id, body).await;
        assert_eq!(status, 201, "instantiate {id}: {created}");
        created
    }
}

/// A valid value for every required parameter of a template (as `GET
/// /api/v1/templates/{id}` describes them); optional ones keep their default.
fn sample_params(template: &Value) -> Map<String, Value> {
    template["params"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["required"] == true)
        .map(|p| {
            let name = p["name"].as_str().unwrap();
            let value = match p["type"].as_str().unwrap() {
                "url" => json!(format!("https://api.example.com/{name}")),
                "email" => json!("team@dealer.example.com"),
                "string" => match p["options"].as_array() {
                    Some(options) => options[0].clone(),
                    None => json!(format!("sample {name}")),
                },
                "number" | "integer" => p.get("minimum").cloned().unwrap_or(json!(1)),
                "boolean" => json!(true),
                other => panic!("{name}: unknown parameter type {other}"),
            };
            (name.to_string(), value)
        })
        .collect()
}

/// Every node of a definition by id.
fn nodes_by_id(definition: &Value) -> Map<String, Value> {
    definition["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n.clone()))
        .collect()
}

/// A planned node (the trigger or a step) of a job's plan, by id.
fn planned(plan: &Value, id: &str) -> Value {
    std::iter::once(&plan["trigger"])
        .chain(plan["nodes"].as_array().unwrap())
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {plan}"))
        .clone()
}

fn lead_capture_params() -> Value {
    json!({
        "crm_url": "https://crm.dealer.example.com/api/leads",
        "crm_api_key": "crm-secret-key",
        "lead_source": "showroom-kiosk",
        "max_attempts": 5
    })
}

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

#[tokio::test]
async fn an_instantiated_webhook_template_runs_with_the_substituted_values() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let created = app
        .instantiated(
            "lead-capture-crm",
            &json!({"chatbot_id": chatbot, "name": "Website leads", "params": lead_capture_params()}),
        )
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);
    let hook = created["webhook_url"]
        .as_str()
        .unwrap()
        .strip_prefix(PUBLIC_URL)
        .unwrap()
        .to_string();

    let (status, body) = app
        .call_hook(
            &hook,
            r#"{"name": "Ada", "email": "ada@example.com", "vehicle_of_interest": "EV"}"#,
            &[("content-type", "application/json")],
        )
        .await;

    assert_eq!(status, 202, "{body}");
    let job = jobs.next_job().await;
    assert_eq!(job.execution_id, body["execution_id"].as_str().unwrap());
    assert_eq!(job.workflow_id, created["id"].as_str().unwrap());
    assert_eq!(trigger_data(&job)["body"]["email"], "ada@example.com");
    let plan: Value = serde_json::from_str(&job.plan_json).unwrap();
    let crm = planned(&plan, "crm");
    assert_eq!(
        crm["config"]["url"],
        "https://crm.dealer.example.com/api/leads"
    );
    assert_eq!(
        crm["config"]["headers"]["Authorization"],
        "Bearer crm-secret-key"
    );
    assert_eq!(crm["config"]["body"], "{{ steps.lead.output }}");
    assert_eq!(crm["policy"]["retry"]["max_attempts"], json!(5));
    let lead = planned(&plan, "lead");
    assert_eq!(lead["config"]["values"]["source"], "showroom-kiosk");
    assert_eq!(
        lead["config"]["values"]["email"],
        "{{ trigger.data.body.email }}"
    );

    // The stored definition keeps the runtime expressions too.
    let (_, stored) = app.get_workflow(created["id"].as_str().unwrap()).await;
    let nodes = nodes_by_id(&stored["flow_definition"]);
    assert_eq!(
        nodes["lead"]["data"]["config"]["values"]["name"],
        "{{ trigger.data.body.name }}"
    );
}

#[tokio::test]
async fn an_instantiated_manual_template_runs_when_executed() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let created = app
        .instantiated(
            "service-recall-check",
            &json!({"chatbot_id": chatbot, "params": {
                "recall_api_url": "https://recalls.example.com/v1/recalls",
                "recall_api_key": "recall-key",
                "service_desk_url": "https://hooks.slack.com/services/T000/B000/XXXX"
            }}),
        )
        .await;
    let mut jobs = app.consume(EXECUTOR_JOBS);

    let (status, body) = app
        .execute(
            created["id"].as_str().unwrap(),
            &json!({"input": {"vin": "WVWZZZ1JZXW000001"}}),
        )
        .await;

    assert_eq!(status, 202, "{body}");
    let job = jobs.next_job().await;
    assert_eq!(job.execution_id, body["execution_id"].as_str().unwrap());
    assert_eq!(trigger_data(&job), json!({"vin": "WVWZZZ1JZXW000001"}));
    let plan: Value = serde_json::from_str(&job.plan_json).unwrap();
    assert_eq!(plan["trigger"]["node_type"], "trigger.manual");
    let recalls = planned(&plan, "recalls");
    assert_eq!(
        recalls["config"]["url"],
        "https://recalls.example.com/v1/recalls"
    );
    assert_eq!(recalls["config"]["headers"]["X-Api-Key"], "recall-key");
    assert_eq!(recalls["config"]["query"]["vin"], "{{ trigger.data.vin }}");
    assert_eq!(
        planned(&plan, "alert")["config"]["url"],
        "https://hooks.slack.com/services/T000/B000/XXXX"
    );
}

/// A parameter substituted inside a runtime expression (the event filter)
/// decides which events start the workflow.
#[tokio::test]
async fn an_instantiated_event_template_filters_with_its_parameter() {
    let app = spawn_app().await;
    let chatbot = app.chatbot().await;
    let created = app
        .instantiated(
            "parts-low-stock-alert",
            &json!({"chatbot_id": chatbot, "params": {
                "slack_webhook_url": "https://hooks.slack.com/services/T1/B1/parts",
                "reorder_level": 5
            }}),
        )
        .await;
    let nodes = nodes_by_id(&created["flow_definition"]);
    assert_eq!(
        nodes["inventory"]["data"]["config"]["filter"],
        "{{ event.data.quantity <= 5 }}"
    );
    let mut jobs = app.consume(EXECUTOR_JOBS);

    for (id, quantity) in [("plenty", 9), ("low", 3)] {
        app.publish_event(&json!({
            "specversion": "1.0",
            "id": id,
            "source": "/inventory",
            "type": "custom.inventory_updated",
            "chatbotid": chatbot.to_string(),
            "data": {"part_number": "1K0-615-301", "part_name": "Brake disc", "quantity": quantity}
        }))
        .await;
    }

    let seen = jobs_until(&mut jobs, "low").await;
    assert_eq!(event_ids(&seen), ["low"]);
    assert_eq!(seen[0].workflow_id, created["id"].as_str().unwrap());
    let plan: Value = serde_json::from_str(&seen[0].plan_json).unwrap();
    assert_eq!(
        planned(&plan, "alert")["config"]["url"],
        "https://hooks.slack.com/services/T1/B1/parts"
    );
}

// ---------------------------------------------------------------- seeding

async fn connect(url: &str) -> DatabaseConnection {
    echoflow_service_kit::db::connect(
        &SecretString::from(url.to_string()),
        Slice::Registry.name(),
        4,
    )
    .await
    .unwrap()
}

/// `updated_at` of every stored template, by id.
async fn stamps(db: &DatabaseConnection) -> BTreeMap<String, chrono::DateTime<chrono::Utc>> {
    stored::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.id, row.updated_at))
        .collect()
}

/// Replicas seeding one database at the same moment all succeed and leave
/// the library once; seeding again rewrites nothing; a changed template is
/// rewritten and one no longer shipped is removed.
async fn seeding_converges(url: &str) {
    let library = library::load().unwrap();
    let db = connect(url).await;
    Slice::Registry.migrate(&db).await.unwrap();
    let replicas = 4;
    let barrier = Arc::new(Barrier::new(replicas));
    let mut racing = Vec::new();
    for _ in 0..replicas {
        let (barrier, library, replica) = (barrier.clone(), library.clone(), connect(url).await);
        racing.push(tokio::spawn(async move {
            barrier.wait().await;
            stored::seed(&replica, &library).await
        }));
    }
    for seeded in futures::future::join_all(racing).await {
        seeded.unwrap().unwrap();
    }
    let first = stamps(&db).await;
    let ids: BTreeSet<&str> = library.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        first.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        ids
    );
    assert_eq!(stored::list(&db, None).await.unwrap().len(), library.len());

    stored::seed(&db, &library).await.unwrap();
    assert_eq!(
        stamps(&db).await,
        first,
        "an unchanged library is not rewritten"
    );

    let mut next = library.clone();
    let removed = next.pop().unwrap();
    next[0].description = "A better description.".into();
    stored::seed(&db, &next).await.unwrap();
    let after = stamps(&db).await;
    assert!(
        !after.contains_key(&removed.id),
        "{} is still stored",
        removed.id
    );
    assert!(
        after[&next[0].id] > first[&next[0].id],
        "the changed template is rewritten"
    );
    for t in &next[1..] {
        assert_eq!(after[&t.id], first[&t.id], "{} was rewritten", t.id);
    }
    let changed = stored::find(&db, &next[0].id).await.unwrap().unwrap();
    assert_eq!(changed, next[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeding_is_idempotent_and_safe_with_replicas_starting_together_on_postgres() {
    let pg = PgDatabase::new().await;
    seeding_converges(&pg.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeding_is_idempotent_and_safe_with_replicas_starting_together_on_sqlite() {
    let path = std::env::temp_dir().join(format!(
        "echoflow-registry-templates-{}.db",
        Uuid::new_v4().simple()
    ));
    seeding_converges(&format!("sqlite://{}?mode=rwc", path.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
