//! User A's resources, one of each, created through the API of `echoflow up` (with a
//! fake Slack on loopback), and the snapshot of every GET A can make.

use super::*;

/// webhook -> set: runs without any outside service.
pub(crate) fn flow(tag: &str) -> Value {
    json!({
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "Webhook", "config": {}}},
            {"id": "note", "type": "action.set", "position": {"x": 200, "y": 0}, "data": {"label": "Note", "config": {
                "values": {"tag": tag, "got": "{{ trigger.data }}"}
            }}}
        ],
        "edges": [{"id": "e1", "source": "hook", "target": "note"}]
    })
}

pub(crate) async fn sign_up(base: &str, email: &str) -> Api {
    let mut api = Api::new(base);
    api.sign_up(email).await;
    api
}

pub(crate) fn id_of(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_string()
}

/// A's resources: everything reachable without an outside provider, and a
/// Slack connection through the loopback fake.
pub(crate) async fn populate(a: &Api) -> Owned {
    let chatbot = a.chatbot.clone().unwrap();
    let bot = &chatbot.id;
    let (status, faq) = a
        .post(
            &format!("/api/v1/chatbots/{bot}/faqs"),
            &json!({"question": "Do you ship abroad?", "answer": "Yes, to the EU.", "category": "shipping"}),
        )
        .await;
    assert_eq!(status, 201, "{faq}");
    let (status, intent) = a
        .post(
            &format!("/api/v1/chatbots/{bot}/intents"),
            &json!({"name": "order_status", "examples": ["where is my order", "track my parcel"]}),
        )
        .await;
    assert_eq!(status, 201, "{intent}");

    let (status, wf) = a
        .post(
            "/api/v1/workflows",
            &json!({"name": "A's notes", "chatbot_id": bot, "flow_definition": flow("a1")}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let workflow = id_of(&wf);
    let (status, v2) = a
        .put(
            &format!("/api/v1/workflows/{workflow}"),
            &json!({"name": "A's notes", "flow_definition": flow("a2")}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2, "{v2}");
    let (status, run) = a
        .post(
            &format!("/api/v1/workflows/{workflow}/execute"),
            &json!({"input": {"order": "A-1"}}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let execution = run["execution_id"].as_str().unwrap().to_string();
    let done = a.wait_finished(&execution).await;
    assert_eq!(done["status"], "completed", "{done}");

    let dead_letter = dead_letter(a, bot).await;

    let (status, instance) = a
        .post(
            &format!("/api/v1/templates/{TEMPLATE}/instantiate"),
            &json!({"chatbot_id": bot, "params": {"crm_url": "http://127.0.0.1:9/leads", "crm_api_key": "a-key"}}),
        )
        .await;
    assert_eq!(status, 201, "{instance}");

    let (status, reply) = a
        .chat(
            &chatbot,
            json!({"message": "Do you ship abroad?", "user_email": "customer@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let session = reply["session_id"].as_str().unwrap().to_string();

    Owned {
        faq: id_of(&faq),
        intent: id_of(&intent),
        workflow,
        version: "2".to_string(),
        execution,
        dead_letter,
        session,
        connection: String::new(),
        chatbot,
    }
}

/// A run that fails (an HTTP step to a loopback address, which the default
/// egress refuses without sending anything) leaves a dead letter.
pub(crate) async fn dead_letter(a: &Api, bot: &str) -> String {
    let definition = json!({
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "Webhook", "config": {}}},
            {"id": "call", "type": "action.http_request", "position": {"x": 200, "y": 0}, "data": {"label": "Call", "config": {
                "method": "GET", "url": "http://127.0.0.1:9/refused"
            }}}
        ],
        "edges": [{"id": "e1", "source": "hook", "target": "call"}]
    });
    let (status, wf) = a
        .post(
            "/api/v1/workflows",
            &json!({"name": "A's failing call", "chatbot_id": bot, "flow_definition": definition}),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let (status, run) = a
        .post(
            &format!("/api/v1/workflows/{}/execute", id_of(&wf)),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let execution = run["execution_id"].as_str().unwrap();
    let done = a.wait_finished(execution).await;
    assert_eq!(done["status"], "failed", "{done}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, list) = a.get("/api/v1/dead-letters").await;
        assert_eq!(status, 200, "{list}");
        if let Some(letter) = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["execution_id"] == execution)
        {
            return id_of(letter);
        }
        assert!(
            Instant::now() < deadline,
            "no dead letter for {execution}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every GET of the document that A can make with its own ids (streams and
/// excluded parameters aside), answered as A: path -> (status, body).
pub(crate) async fn snapshot(
    a: &Api,
    ops: &[Operation],
    owned: &Owned,
) -> BTreeMap<String, (u16, Value)> {
    let mut out = BTreeMap::new();
    for op in ops
        .iter()
        .filter(|o| o.method == "get" && !o.is_stream() && o.takes_bearer())
    {
        let Filled::Url(url, _) = fill_path(op, owned, &mut Vec::new()) else {
            continue;
        };
        let (status, body) = a.get(&url).await;
        out.insert(url, (status, body));
    }
    out
}

/// A fake Slack on loopback: enough to connect A's workspace through OAuth.
pub(crate) async fn fake_slack() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/oauth.v2.access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "token_type": "bot", "scope": "chat:write",
            "access_token": "xoxb-isolation-access", "refresh_token": "xoxe-isolation-refresh",
            "expires_in": 43200, "team": {"id": "T0ISO", "name": "A's team"}
        })))
        .mount(&slack)
        .await;
    slack
}

pub(crate) async fn start(slack: &MockServer) -> (Service, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let uri = slack.uri();
    let key = |k: &str| format!("ECHOFLOW_INTEGRATIONS__PROVIDERS__SLACK__{k}");
    let env = vec![
        (key("CLIENT_ID"), "slack-client".to_string()),
        (key("CLIENT_SECRET"), "slack-secret".to_string()),
        (key("AUTHORIZE_URL"), format!("{uri}/oauth/v2/authorize")),
        (key("TOKEN_URL"), format!("{uri}/api/oauth.v2.access")),
        (key("API_BASE_URL"), format!("{uri}/api")),
        (key("REVOKE_URL"), format!("{uri}/api/revoke")),
        (
            "ECHOFLOW_TELEMETRY__LOG_LEVEL".to_string(),
            "info,sqlx=warn".to_string(),
        ),
    ];
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let up = Service::start(
        "up-isolation",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    (up, dir)
}
