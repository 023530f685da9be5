//! Instantiated workflows run with the substituted values.

use super::*;

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
