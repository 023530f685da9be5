//! The calls the tests make, as methods of `TestApp`.

use super::*;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A token for a new user: (their id, their token).
    pub fn other_user(&self) -> (Uuid, String) {
        let id = Uuid::new_v4();
        let token = self
            .keys
            .issue(id, &format!("{}@example.com", id.simple()))
            .unwrap();
        (id, token)
    }

    async fn send(&self, request: RequestBuilder) -> (u16, Value) {
        read(request.send().await.unwrap()).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.post(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
            .await
    }

    /// `GET /api/v1/integrations` as `token`; must succeed.
    pub async fn list_as(&self, token: &str) -> Value {
        let (status, body) = self.get_as(token, "/api/v1/integrations").await;
        assert_eq!(status, 200, "list: {body}");
        body
    }

    pub async fn list(&self) -> Value {
        self.list_as(&self.token).await
    }

    /// Starts a connect as `token`; must succeed: (state, authorization URL query).
    pub async fn start_connect_as(
        &self,
        token: &str,
        provider: &str,
    ) -> (String, HashMap<String, String>) {
        let (status, body) = self
            .get_as(token, &format!("/api/v1/integrations/{provider}/connect"))
            .await;
        assert_eq!(status, 200, "connect: {body}");
        let state = body["state"].as_str().unwrap().to_string();
        let query = query_of(body["authorization_url"].as_str().unwrap());
        assert_eq!(query["state"], state);
        (state, query)
    }

    /// The provider's redirect back, with `bearer` if given.
    pub async fn callback(
        &self,
        provider: &str,
        query: &[(&str, &str)],
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .get(self.url(&format!("/api/v1/integrations/{provider}/callback")))
            .query(query);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// A whole connect of the main user whose token endpoint answers `tokens`; the connection.
    pub async fn connect(&self, provider: &str, tokens: Value) -> Value {
        self.connect_as(&self.token, provider, tokens).await
    }

    pub async fn connect_as(&self, token: &str, provider: &str, tokens: Value) -> Value {
        let (state, query) = self.start_connect_as(token, provider).await;
        let code = format!("code-{}", Uuid::new_v4().simple());
        Mock::given(method("POST"))
            .and(path(format!("/{provider}/token")))
            .and(CodeExchange {
                provider: provider.into(),
                code: code.clone(),
                challenge: query["code_challenge"].clone(),
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(tokens))
            .up_to_n_times(1)
            .expect(1)
            .mount(&self.provider)
            .await;
        let (status, body) = self
            .callback(provider, &[("code", &code), ("state", &state)], None)
            .await;
        assert!(status == 201 || status == 200, "callback: {status} {body}");
        body
    }

    /// Mounts a refresh of `refresh` at `provider`'s token endpoint answering `answer`, expected `times`.
    pub async fn on_refresh(
        &self,
        provider: &str,
        refresh: &str,
        answer: ResponseTemplate,
        times: u64,
    ) {
        Mock::given(method("POST"))
            .and(path(format!("/{provider}/token")))
            .and(Form("grant_type", "refresh_token".into()))
            .and(Form("refresh_token", refresh.into()))
            .respond_with(answer)
            .expect(times)
            .mount(&self.provider)
            .await;
    }

    // ------------------------------------------------------------ internal

    pub async fn internal_get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header(INTERNAL_HEADER, token);
        }
        self.send(request).await
    }

    /// `POST /internal/actions/{action}` with the service token.
    pub async fn action(&self, action: &str, body: &Value) -> (u16, Value) {
        let (status, _, body) = self.action_with_headers(action, body).await;
        (status, body)
    }

    /// The same, with the answer's Retry-After (seconds) if any.
    pub async fn action_with_headers(
        &self,
        action: &str,
        body: &Value,
    ) -> (u16, Option<u64>, Value) {
        let response = self
            .client
            .post(self.url(&format!("/internal/actions/{action}")))
            .header(INTERNAL_HEADER, INTERNAL_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let (status, body) = read(response).await;
        (status, retry_after, body)
    }

    /// An action call of the main user on `connection` with `input`.
    pub fn action_body(&self, connection: &Value, input: Value) -> Value {
        json!({
            "connection_id": connection["id"],
            "owner_id": self.user_id,
            "chatbot_id": null,
            "execution_id": Uuid::new_v4(),
            "idempotency_key": format!("step-{}", Uuid::new_v4().simple()),
            "input": input,
        })
    }

    /// Requests the provider fake received at `path`.
    pub async fn received_at(&self, path: &str) -> Vec<Request> {
        self.provider
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == path)
            .collect()
    }

    // ------------------------------------------------------------ database

    /// The service's own database, for reading rows directly.
    pub async fn db(&self) -> DatabaseConnection {
        echoflow_service_kit::db::connect(
            &SecretString::from(self.db_url.clone()),
            "integrations",
            2,
        )
        .await
        .unwrap()
    }

    /// The database URL the instance was started with.
    pub fn settings_db_url(&self) -> String {
        self.db_url.clone()
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::parse(
            &self.settings.integrations.encryption_keys,
            &self.settings.integrations.active_key_id,
        )
        .unwrap()
    }

    // ------------------------------------------------------------ events

    /// Starts collecting what the service publishes on `echoflow.events`.
    pub fn events(&self) -> Events {
        echoflow_test_support::events::collect(&self.bus)
    }
}
