//! What browsers do, across the gateway and the real services: a builder
//! page on the management API's allowed origin, and a chat widget on a
//! customer's page, each sending real preflights (`OPTIONS` with `Origin`,
//! `Access-Control-Request-Method` and `-Headers`) before their requests.
//! Both run modes pass the same journey.

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use echoflow_test_support::api::Api;
use echoflow_test_support::{assert_error, read};

/// The origin of the builder: set as `ECHOFLOW_CORS__ALLOWED_ORIGINS`.
pub const BUILDER: &str = "https://builder.example.test";
/// The customer's page the widget is allowed on.
pub const SHOP: &str = "https://shop.example.test";
/// A page nobody allowed.
pub const STRANGER: &str = "https://stranger.example.test";

/// The environment the gateway needs for this journey.
pub fn gateway_env() -> Vec<(String, String)> {
    vec![("ECHOFLOW_CORS__ALLOWED_ORIGINS".into(), BUILDER.into())]
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn send(request: RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    let (status, body) = read(response).await;
    Answer {
        status,
        headers,
        body,
    }
}

impl Answer {
    /// The one `Access-Control-Allow-Origin`, if any (two would be a browser error).
    fn allowed_origin(&self) -> Option<&str> {
        let all: Vec<&str> = self
            .headers
            .get_all("access-control-allow-origin")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(
            all.len() <= 1,
            "Access-Control-Allow-Origin repeated: {all:?}"
        );
        all.first().copied()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn no_cors_headers(&self) {
        let names: Vec<&str> = self
            .headers
            .keys()
            .map(|k| k.as_str())
            .filter(|k| k.starts_with("access-control-"))
            .collect();
        assert!(names.is_empty(), "CORS headers {names:?} on {}", self.body);
    }
}

fn lists(value: &str, item: &str) -> bool {
    value
        .split(',')
        .any(|v| v.trim().eq_ignore_ascii_case(item))
}

async fn preflight(api: &Api, path: &str, origin: &str, method: &str, headers: &str) -> Answer {
    send(
        api.client
            .request(Method::OPTIONS, format!("{}{path}", api.base))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers),
    )
    .await
}

/// The journey: `api` is signed up (its token is the builder's).
pub async fn browsers_journey(api: &Api) {
    let bot = api
        .create_chatbot(
            "Shop",
            json!({"allowed_origins": [SHOP], "widget": {"primary_color": "#0A7D32", "position": "bottom_left"}}),
        )
        .await;
    let (status, _) = api
        .post(
            &format!("/api/v1/chatbots/{}/faqs", bot.id),
            &json!({"question": "When are you open?", "answer": "Monday to Saturday."}),
        )
        .await;
    assert_eq!(status, 201);

    // The widget's preflight (no key: browsers send none) is answered for its page.
    let answer = preflight(
        api,
        "/api/v1/chat",
        SHOP,
        "POST",
        "content-type,x-chatbot-key",
    )
    .await;
    assert_eq!(answer.status, 204, "widget preflight: {}", answer.body);
    assert_eq!(answer.allowed_origin(), Some(SHOP));
    assert!(lists(answer.header("access-control-allow-methods"), "POST"));
    let allowed = answer.header("access-control-allow-headers");
    assert!(
        lists(allowed, "x-chatbot-key") && lists(allowed, "content-type"),
        "{allowed}"
    );
    assert!(lists(answer.header("vary"), "origin"));
    assert!(
        answer
            .headers
            .get("access-control-allow-credentials")
            .is_none()
    );

    // The real request from the shop's page is answered and readable there.
    let widget = |method: Method, path: &str, origin: &str| {
        api.client
            .request(method, format!("{}{path}", api.base))
            .header("x-chatbot-key", &bot.api_key)
            .header("origin", origin)
    };
    let message = json!({"chatbot_id": bot.id, "message": "When are you open?"});
    let answer = send(widget(Method::POST, "/api/v1/chat", SHOP).json(&message)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["reply"], "Monday to Saturday.");
    assert_eq!(answer.allowed_origin(), Some(SHOP));
    assert!(lists(answer.header("vary"), "origin"));

    // Another site's page holding the key is refused, and nothing is stored for it.
    let answer = send(widget(Method::POST, "/api/v1/chat", STRANGER).json(&message)).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_error(&answer.body, "ORIGIN_NOT_ALLOWED");
    assert_eq!(answer.allowed_origin(), None);
    let (_, conversations) = api
        .get(&format!("/api/v1/chatbots/{}/conversations", bot.id))
        .await;
    assert_eq!(conversations["total"], 1, "{conversations}");

    // The widget's config and FAQ tab, from the shop's page.
    let answer = preflight(api, "/api/v1/chat/config", SHOP, "GET", "x-chatbot-key").await;
    assert_eq!(answer.status, 204);
    let answer = send(widget(Method::GET, "/api/v1/chat/config", SHOP)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.allowed_origin(), Some(SHOP));
    assert_eq!(answer.body["appearance"]["primary_color"], "#0a7d32");
    assert_eq!(answer.body["appearance"]["position"], "bottom_left");
    assert_eq!(answer.body["appearance"]["title"], "Shop");
    assert_eq!(answer.body["faq_enabled"], true);
    let answer = send(widget(Method::GET, "/api/v1/chat/faqs?limit=10", SHOP)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["items"][0]["answer"], "Monday to Saturday.");
    assert_eq!(answer.allowed_origin(), Some(SHOP));
    let answer = send(widget(Method::GET, "/api/v1/chat/faqs", STRANGER)).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.allowed_origin(), None);

    // The builder's page on the management API's allowed origin.
    let answer = preflight(
        api,
        "/api/v1/chatbots",
        BUILDER,
        "POST",
        "authorization,content-type",
    )
    .await;
    assert_eq!(answer.status, 200, "builder preflight: {}", answer.body);
    assert_eq!(answer.allowed_origin(), Some(BUILDER));
    assert!(lists(answer.header("access-control-allow-methods"), "POST"));
    assert!(lists(
        answer.header("access-control-allow-headers"),
        "authorization"
    ));
    let token = api.token.as_deref().unwrap();
    let answer = send(
        api.client
            .get(format!("{}/api/v1/chatbots", api.base))
            .bearer_auth(token)
            .header("origin", BUILDER),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.allowed_origin(), Some(BUILDER));

    // The shop may embed a widget; that does not open the management API to it.
    let answer = preflight(api, "/api/v1/chatbots", SHOP, "GET", "authorization").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_error(&answer.body, "ORIGIN_NOT_ALLOWED");
    answer.no_cors_headers();
    let answer = send(
        api.client
            .get(format!("{}/api/v1/chatbots", api.base))
            .bearer_auth(token)
            .header("origin", SHOP),
    )
    .await;
    assert_eq!(answer.status, 200);
    answer.no_cors_headers();
}
