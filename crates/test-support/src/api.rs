//! A client of the public API, with the calls the scenarios make.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
    /// The chatbot `sign_up` created for this user.
    pub chatbot: Option<Chatbot>,
    /// The session token of every conversation a chat answer handed one for,
    /// by session id: what a widget keeps to continue its conversation.
    session_tokens: Mutex<HashMap<String, String>>,
}

/// A chatbot and its widget key.
#[derive(Debug, Clone)]
pub struct Chatbot {
    pub id: String,
    pub api_key: String,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: None,
            chatbot: None,
            session_tokens: Mutex::default(),
        }
    }

    /// The id of the chatbot `sign_up` created.
    pub fn chatbot_id(&self) -> &str {
        &self.chatbot.as_ref().expect("signed up").id
    }

    /// Creates a chatbot of the signed-in user.
    pub async fn create_chatbot(&self, name: &str, settings: Value) -> Chatbot {
        let (status, bot) = self
            .post(
                "/api/v1/chatbots",
                &json!({"name": name, "welcome_message": "Hi! How can I help?", "settings": settings}),
            )
            .await;
        assert_eq!(status, 201, "{bot}");
        Chatbot {
            id: bot["id"].as_str().unwrap().to_string(),
            api_key: bot["api_key"].as_str().unwrap().to_string(),
        }
    }

    /// An end user's message to a chatbot, with its widget key, as its widget
    /// sends it: a message that continues a conversation (`session_id`) carries
    /// the conversation's token in `X-Session-Token`.
    pub async fn chat(&self, bot: &Chatbot, body: Value) -> (u16, Value) {
        let mut body = body;
        body["chatbot_id"] = json!(bot.id);
        let mut request = self
            .client
            .post(format!("{}/api/v1/chat", self.base))
            .header("x-chatbot-key", &bot.api_key);
        if let Some(token) = body["session_id"]
            .as_str()
            .and_then(|id| self.session_token(id))
        {
            request = request.header("x-session-token", token);
        }
        let (status, answer) = read(request.json(&body).send().await.unwrap()).await;
        if let (Some(id), Some(token)) = (
            answer["session_id"].as_str(),
            answer["session_token"].as_str(),
        ) {
            let mut tokens = self
                .session_tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tokens.insert(id.to_string(), token.to_string());
        }
        (status, answer)
    }

    /// The session token a chat answer handed out for `session_id`.
    pub fn session_token(&self, session_id: &str) -> Option<String> {
        self.session_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(session_id)
            .cloned()
    }

    fn with_auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .with_auth(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .with_auth(self.client.post(format!("{}{path}", self.base)).json(body))
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .with_auth(self.client.put(format!("{}{path}", self.base)).json(body))
            .send()
            .await
            .unwrap();
        read(r).await
    }

    pub async fn delete(&self, path: &str) -> u16 {
        let r = self
            .with_auth(self.client.delete(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }

    /// Registers `email`, signs in (keeps the access token) and creates a chatbot.
    pub async fn sign_up(&mut self, email: &str) {
        let password = "correct horse battery";
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                &json!({"email": email, "password": password, "name": "Tester"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .post(
                "/api/v1/auth/token",
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "bearer");
        self.token = Some(body["access_token"].as_str().unwrap().to_string());
        self.chatbot = Some(self.create_chatbot("Support", json!({})).await);
    }

    /// Polls the executions of `workflow_id` until there are at least
    /// `count` (20 s at most); returns them, newest first.
    pub async fn wait_runs(&self, workflow_id: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, list) = self
                .get(&format!("/api/v1/executions?workflow_id={workflow_id}"))
                .await;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= count {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "workflow {workflow_id} has {} runs, not {count}",
                items.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls an execution until it reaches a final status (30 s at most).
    pub async fn wait_finished(&self, execution_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self
                .get(&format!("/api/v1/executions/{execution_id}"))
                .await;
            if status == 200
                && matches!(
                    body["status"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "execution {execution_id} did not finish: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// webhook -> http_request (to `target_url`) -> if status == 200 -> set.
pub fn webhook_workflow(target_url: &str, chatbot_id: &str) -> Value {
    json!({
        "name": "order follow-up",
        "chatbot_id": chatbot_id,
        "flow_definition": {
            "nodes": [
                {"id": "hook", "type": "trigger.webhook", "position": {"x": 0, "y": 0}, "data": {"label": "Webhook", "config": {}}},
                {"id": "lookup", "type": "action.http_request", "position": {"x": 200, "y": 0}, "data": {"label": "Look up", "config": {
                    "method": "POST",
                    "url": format!("{target_url}/customers/lookup"),
                    "headers": {"x-order": "{{ trigger.data.body.order_id }}"},
                    "body": {"email": "{{ trigger.data.body.email }}"}
                }}},
                {"id": "found", "type": "condition.if", "position": {"x": 400, "y": 0}, "data": {"label": "Found?", "config": {
                    "condition": "{{ steps.lookup.output.status == 200 }}"
                }}},
                {"id": "result", "type": "action.set", "position": {"x": 600, "y": 0}, "data": {"label": "Result", "config": {
                    "values": {"tier": "{{ steps.lookup.output.body.tier }}", "order": "{{ trigger.data.body.order_id }}", "greeting": "Hello {{ trigger.data.body.email }}"}
                }}}
            ],
            "edges": [
                {"id": "e1", "source": "hook", "target": "lookup"},
                {"id": "e2", "source": "lookup", "target": "found"},
                {"id": "e3", "source": "found", "target": "result", "sourceHandle": "true"}
            ]
        }
    })
}
