//! Dead letters across processes: a malformed CloudEvent with its reason; a failed
//! run starts the error workflow and its dead letter replays once fixed.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_cloudevent_ends_in_the_dead_letter_queue_with_its_reason() {
    use lapin::options::{BasicGetOptions, BasicPublishOptions};
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let cluster = Cluster::start().await;
    let conn = Connection::connect(&cluster.vhost.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "echoflow.events".into(),
            "custom.order_shipped".into(),
            BasicPublishOptions::default(),
            br#"{"id": "1", "source": "/shop", "type": "custom.order_shipped"}"#,
            BasicProperties::default().with_message_id("malformed-1".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        if let Some(message) = channel
            .basic_get("executor.dead".into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            break message;
        }
        assert!(Instant::now() < deadline, "nothing reached executor.dead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let headers = dead
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let reason = headers
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == "x-echoflow-reason")
        .map(|(_, v)| match v {
            lapin::types::AMQPValue::LongString(s) => {
                String::from_utf8_lossy(s.as_bytes()).into_owned()
            }
            other => format!("{other:?}"),
        })
        .expect("a reason header");
    assert!(reason.contains("specversion"), "reason: {reason}");
    let body: Value = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(
        body["type"], "custom.order_shipped",
        "the original body is kept"
    );
    let _ = conn.close(200, "done".into()).await;
    cluster.stop().await;
}

/// A failed run starts the workflow's error workflow with the failure as its
/// trigger data; the failure is a dead letter that replays once fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_starts_the_error_workflow_and_its_dead_letter_replays() {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let cluster = Cluster::start().await;
    let mut api = Api::new(cluster.gateway.base_url());
    api.sign_up("oncall@example.com").await;
    let outside = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad order"})))
        .up_to_n_times(1)
        .mount(&outside)
        .await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&outside)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&outside)
        .await;
    let step = |id: &str, kind: &str, config: Value| json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}});
    let (status, alert) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "alert on-call", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "nodes": [step("start", "trigger.manual", json!({})),
                          step("page", "action.http_request", json!({"method": "POST",
                              "url": format!("{}/alerts", outside.uri()),
                              "body": {"failed": "{{ trigger.data.execution_id }}", "step": "{{ trigger.data.failed_step }}"}}))],
                "edges": [{"id": "e", "source": "start", "target": "page"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{alert}");
    let (status, orders) = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "orders", "chatbot_id": api.chatbot_id(), "flow_definition": {
                "settings": {"error_workflow_id": alert["id"]},
                "nodes": [step("hook", "trigger.webhook", json!({})),
                          step("create", "action.http_request", json!({"method": "POST",
                              "url": format!("{}/orders", outside.uri())}))],
                "edges": [{"id": "e", "source": "hook", "target": "create"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{orders}");
    let url = orders["webhook_url"].as_str().unwrap();
    let (status, accepted) = api
        .post(&url[url.find("/hooks/").unwrap()..], &json!({}))
        .await;
    assert_eq!(status, 202);
    let failed_id = accepted["execution_id"].as_str().unwrap().to_string();
    let failed = api.wait_finished(&failed_id).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    // The error workflow ran with the failure as its trigger data.
    let alert_id = alert["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert_run = loop {
        let (_, list) = api
            .get(&format!("/api/v1/executions?workflow_id={alert_id}"))
            .await;
        if let Some(id) = list["items"][0]["id"].as_str() {
            break api.wait_finished(id).await;
        }
        assert!(Instant::now() < deadline, "the error workflow never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(alert_run["status"], "completed", "{alert_run}");
    assert_eq!(alert_run["trigger"]["type"], "execution.failed");
    assert_eq!(
        alert_run["trigger"]["data"]["execution_id"],
        failed_id.as_str()
    );
    let pages: Vec<Value> = outside
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(pages, [json!({"failed": failed_id, "step": "create"})]);

    // The failure is a dead letter; the order API works now: replay it.
    let (status, letters) = api.get("/api/v1/dead-letters").await;
    assert_eq!(status, 200);
    assert_eq!(letters["total"], 1, "{letters}");
    assert_eq!(letters["items"][0]["execution_id"], failed_id.as_str());
    let (status, replayed) = api
        .post(
            "/api/v1/dead-letters/replay",
            &json!({"workflow_id": orders["id"]}),
        )
        .await;
    assert_eq!(status, 202, "{replayed}");
    let retry = api
        .wait_finished(replayed["replayed"][0]["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(retry["status"], "completed", "{retry}");
    assert_eq!(retry["retry_of"], failed_id.as_str());
    cluster.stop().await;
}
