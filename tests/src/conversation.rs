//! The conversation journey both run modes must pass: an FAQ chatbot whose
//! angry customers start an escalation workflow.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use echoflow_test_support::api::{Api, Chatbot};

pub const OPENING_HOURS: &str = "We are open Monday to Saturday, 9am to 6pm.";
pub const FOLLOW_UP: &str = "A person will call you";

/// The fake ticketing API the escalation calls.
pub async fn ticketing_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/escalations"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"ticket": "T-1"})))
        .mount(&server)
        .await;
    server
}

fn node(id: &str, kind: &str, config: Value) -> Value {
    json!({"id": id, "type": kind, "position": {"x": 0, "y": 0}, "data": {"label": id, "config": config}})
}

fn edge(id: &str, source: &str, target: &str) -> Value {
    json!({"id": id, "source": source, "target": target})
}

/// sentiment <= -0.5 -> tag 'escalate' -> send message -> http_request.
pub fn escalation_workflow(chatbot_id: &str, ticketing_url: &str) -> Value {
    json!({
        "name": "escalate angry customers",
        "chatbot_id": chatbot_id,
        "flow_definition": {
            "nodes": [
                node("angry", "trigger.sentiment", json!({"threshold": -0.5, "direction": "below"})),
                node("tag", "action.tag_conversation", json!({"tag": "escalate"})),
                node("reply", "action.send_message", json!({"text": FOLLOW_UP})),
                node("ticket", "action.http_request", json!({
                    "method": "POST",
                    "url": format!("{ticketing_url}/escalations"),
                    "body": {
                        "session": "{{ trigger.data.session_id }}",
                        "email": "{{ trigger.data.user_email }}",
                        "score": "{{ trigger.data.score }}",
                        "text": "{{ trigger.data.text }}"
                    }
                })),
            ],
            "edges": [edge("e1", "angry", "tag"), edge("e2", "tag", "reply"), edge("e3", "reply", "ticket")]
        }
    })
}

/// Executions of a workflow, once there are `count` finished ones (30 s at most).
pub async fn wait_executions(api: &Api, workflow_id: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, list) = api
            .get(&format!("/api/v1/executions?workflow_id={workflow_id}"))
            .await;
        assert_eq!(status, 200, "{list}");
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let finished = items
            .iter()
            .filter(|e| {
                matches!(
                    e["status"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            })
            .count();
        if finished >= count {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{count} executions of {workflow_id} did not finish: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_faqs(api: &Api, bot: &Chatbot) {
    for (q, a) in [
        ("What are your opening hours?", OPENING_HOURS),
        (
            "How long does shipping take?",
            "Orders ship within 2 business days.",
        ),
        ("Can I return my order?", "Yes, within 30 days of delivery."),
    ] {
        let (status, body) = api
            .post(
                &format!("/api/v1/chatbots/{}/faqs", bot.id),
                &json!({"question": q, "answer": a}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// A neutral question gets the FAQ answer and starts nothing; an angry
/// message starts the escalation once: the conversation is tagged, gets the
/// follow-up message, the ticketing API is called, the run completes. A
/// workflow of another chatbot does not fire for it. Returns the chatbot.
pub async fn conversation_journey(api: &Api) -> Chatbot {
    let bot = api.create_chatbot("Shop assistant", json!({})).await;
    add_faqs(api, &bot).await;
    let ticketing = ticketing_api().await;
    let (status, wf) = api
        .post(
            "/api/v1/workflows",
            &escalation_workflow(&bot.id, &ticketing.uri()),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let workflow_id = wf["id"].as_str().unwrap().to_string();
    // The same workflow on another chatbot of the same user: it must not
    // fire for this chatbot's conversation, and its own run is the sentinel
    // that events of the other chatbot were processed.
    let other_bot = api.create_chatbot("Other shop", json!({})).await;
    let (status, other_wf) = api
        .post(
            "/api/v1/workflows",
            &escalation_workflow(&other_bot.id, &ticketing.uri()),
        )
        .await;
    assert_eq!(status, 201, "{other_wf}");
    let other_workflow_id = other_wf["id"].as_str().unwrap().to_string();

    let (status, first) = api
        .chat(
            &bot,
            json!({"message": "When are you open on Saturday?", "user_email": "kim@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["reply"], OPENING_HOURS, "{first}");
    assert_eq!(first["reply_source"], "faq");
    assert_eq!(first["sentiment"]["label"], "neutral", "{first}");
    assert_eq!(first["new_session"], true);
    let session = first["session_id"].as_str().unwrap().to_string();

    let (status, angry) = api
        .chat(
            &bot,
            json!({"message": "This is terrible! My order arrived broken and nobody answers. I am furious!",
                   "session_id": session, "user_email": "kim@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{angry}");
    assert_eq!(angry["session_id"], session.as_str());
    assert!(
        angry["sentiment"]["score"].as_f64().unwrap() <= -0.5,
        "{angry}"
    );
    assert_eq!(angry["sentiment"]["label"], "negative");
    let angry_message_id = angry["message_id"].as_str().unwrap().to_string();

    let runs = wait_executions(api, &workflow_id, 1).await;
    assert_eq!(runs.len(), 1, "one run for one angry message: {runs:?}");
    let execution = api.wait_finished(runs[0]["id"].as_str().unwrap()).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    assert_eq!(execution["trigger"]["type"], "sentiment.analyzed");
    assert_eq!(execution["trigger"]["data"]["session_id"], session.as_str());
    let steps: Vec<&str> = execution["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["tag", "reply", "ticket"], "{execution}");
    let calls = ticketing.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1, "the ticketing API was called once");
    let call: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(call["session"], session.as_str());
    assert_eq!(call["email"], "kim@example.com");

    // The conversation shows the tag (on the angry message) and the follow-up.
    let (status, history) = api
        .get(&format!("/api/v1/conversations/{session}/messages"))
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["tags"], json!(["escalate"]), "{history}");
    let items = history["items"].as_array().unwrap();
    let angry_row = items
        .iter()
        .find(|m| m["id"] == angry_message_id.as_str())
        .unwrap();
    assert_eq!(angry_row["tags"], json!(["escalate"]));
    assert!(angry_row["sentiment_score"].as_f64().unwrap() <= -0.5);
    let follow_up: Vec<&Value> = items.iter().filter(|m| m["content"] == FOLLOW_UP).collect();
    assert_eq!(follow_up.len(), 1, "{history}");
    assert_eq!(follow_up[0]["source"], "workflow");
    assert_eq!(
        items.len(),
        6,
        "the welcome, two turns and the follow-up: {history}"
    );
    assert_eq!(items[0]["source"], "welcome");

    // Another chatbot's angry customer runs only that chatbot's workflow.
    let (status, _) = api
        .chat(
            &other_bot,
            json!({"message": "Awful, horrible service. I hate this and I am furious!"}),
        )
        .await;
    assert_eq!(status, 200);
    wait_executions(api, &other_workflow_id, 1).await;
    let (_, list) = api
        .get(&format!("/api/v1/executions?workflow_id={workflow_id}"))
        .await;
    assert_eq!(list["total"], 1, "chatbot A's workflow ignored B: {list}");
    assert_eq!(ticketing.received_requests().await.unwrap().len(), 2);
    bot
}

/// Another user can neither see, use nor chat as the first user's chatbot.
pub async fn chatbots_are_private(base: &str, bot: &Chatbot) {
    let mut other = Api::new(base);
    other
        .sign_up(&format!(
            "intruder-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    for path in [
        format!("/api/v1/chatbots/{}", bot.id),
        format!("/api/v1/chatbots/{}/faqs", bot.id),
        format!("/api/v1/chatbots/{}/conversations", bot.id),
    ] {
        let (status, body) = other.get(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, body) = other
        .post(
            "/api/v1/workflows",
            &json!({"name": "steal", "chatbot_id": bot.id, "flow_definition": {
                "nodes": [node("hook", "trigger.webhook", json!({}))], "edges": []}}),
        )
        .await;
    assert_eq!(status, 404, "another user's chatbot in a workflow: {body}");
    // The intruder's own key does not open the first user's chatbot.
    let own = other.chatbot.clone().unwrap();
    let forged = Chatbot {
        id: bot.id.clone(),
        api_key: own.api_key,
    };
    let (status, body) = other.chat(&forged, json!({"message": "hello"})).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = other
        .chat(
            &Chatbot {
                id: bot.id.clone(),
                api_key: String::new(),
            },
            json!({"message": "hello"}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

/// A template from the library becomes a workflow that runs: the lead
/// capture template posts the lead to a fake CRM with the key given.
pub async fn a_template_runs(api: &Api) {
    let crm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/leads"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer crm-key-1",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "L-1"})))
        .mount(&crm)
        .await;
    let (status, wf) = api
        .post(
            "/api/v1/templates/lead-capture-crm/instantiate",
            &json!({"chatbot_id": api.chatbot_id(), "params": {
                "crm_url": format!("{}/leads", crm.uri()), "crm_api_key": "crm-key-1"}}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let url = wf["webhook_url"].as_str().unwrap();
    let hook = &url[url.find("/hooks/").unwrap()..];
    let (status, accepted) = api
        .post(hook, &json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let execution = api
        .wait_finished(accepted["execution_id"].as_str().unwrap())
        .await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let calls = crm.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1);
    let lead: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(lead["email"], "ada@example.com");
    assert_eq!(lead["source"], "website", "the parameter's default");
}
