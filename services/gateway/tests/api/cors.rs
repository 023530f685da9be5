//! Run with: cargo test -p echoflow-gateway --test api cors
//!
//! Browsers' cross-origin requests: the management API answers the origins
//! of `cors.allowed_origins` (actix-cors), the widget's routes
//! (`/api/v1/chat` and below) have their preflights answered here for any
//! origin and their real answers' CORS headers decided by chat (a wiremock
//! chat here), passed through once.

use reqwest::Method;
use reqwest::header::HeaderMap;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    TestApp, assert_error, closed_loopback_url, read, spawn_app_configured, spawn_app_with_settings,
};

const APP: &str = "https://app.example.com";
const SHOP: &str = "https://shop.example.com";
const EVIL: &str = "https://evil.example";

/// The gateway with `APP` allowed on the management API and `chat` as chat.
async fn gateway(chat: &str) -> TestApp {
    spawn_app_configured(
        &closed_loopback_url(),
        &closed_loopback_url(),
        vec![
            ("services.chat_url", chat.to_string()),
            (
                "cors.allowed_origins",
                format!("{APP}, http://localhost:5173"),
            ),
        ],
    )
    .await
}

/// A browser's preflight of `method` on `path` from `origin`.
async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> (u16, HeaderMap, String) {
    let response = app
        .client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn one<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    let all = values(headers, name);
    assert_eq!(all.len(), 1, "{name}: {all:?}");
    all[0]
}

fn listed(value: &str, item: &str) -> bool {
    value
        .split(',')
        .any(|v| v.trim().eq_ignore_ascii_case(item))
}

fn no_cors_headers(headers: &HeaderMap) {
    let cors: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "unexpected CORS headers: {cors:?}");
}

#[tokio::test]
async fn a_widget_preflight_is_answered_here_for_any_origin_without_reaching_chat() {
    let chat = MockServer::start().await;
    Mock::given(method("OPTIONS"))
        .respond_with(ResponseTemplate::new(405))
        .expect(0)
        .mount(&chat)
        .await;
    let app = gateway(&chat.uri()).await;
    for (route, verb, origin) in [
        ("/api/v1/chat", "POST", SHOP),
        ("/api/v1/chat", "POST", EVIL),
        ("/api/v1/chat/config", "GET", SHOP),
        ("/api/v1/chat/faqs", "GET", "http://localhost:3000"),
        ("/api/v1/chat/sessions/0190/messages", "GET", SHOP),
    ] {
        let (status, h, _) =
            preflight(&app, route, origin, verb, "content-type,x-chatbot-key").await;
        assert_eq!(status, 204, "{route}");
        assert_eq!(one(&h, "access-control-allow-origin"), origin, "{route}");
        let methods = one(&h, "access-control-allow-methods");
        assert!(listed(methods, verb), "{route}: {methods}");
        let allowed = one(&h, "access-control-allow-headers");
        for name in ["content-type", "x-chatbot-key", "x-session-token"] {
            assert!(listed(allowed, name), "{route}: {allowed}");
        }
        assert_eq!(one(&h, "access-control-max-age"), "300");
        assert!(listed(one(&h, "vary"), "origin"));
        assert!(h.get("access-control-allow-credentials").is_none());
    }
}

#[tokio::test]
async fn a_widget_answer_keeps_chats_cors_headers_once() {
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("access-control-allow-origin", APP)
                .insert_header("access-control-expose-headers", "Retry-After")
                .insert_header("vary", "Origin")
                .set_body_json(serde_json::json!({"reply": "hi"})),
        )
        .mount(&chat)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/chat/faqs"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("vary", "Origin")
                .set_body_json(serde_json::json!({"error": {"code": "ORIGIN_NOT_ALLOWED", "message": "no", "details": {}}})),
        )
        .mount(&chat)
        .await;
    let app = gateway(&chat.uri()).await;
    // APP is also on the management allow-list: the gateway still adds nothing of its own.
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .header("origin", APP)
        .header("x-chatbot-key", "ecb_key")
        .json(&serde_json::json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    let h = response.headers().clone();
    assert_eq!(response.status(), 200);
    assert_eq!(one(&h, "access-control-allow-origin"), APP);
    assert_eq!(one(&h, "access-control-expose-headers"), "Retry-After");
    assert_eq!(one(&h, "vary"), "Origin");
    assert!(h.get("access-control-allow-credentials").is_none());

    // Chat refused the origin: the refusal comes through, and no CORS header with it.
    let response = app
        .client
        .get(app.url("/api/v1/chat/faqs"))
        .header("origin", APP)
        .header("x-chatbot-key", "ecb_key")
        .send()
        .await
        .unwrap();
    let h = response.headers().clone();
    let (status, body) = read(response).await;
    assert_eq!(status, 403);
    assert_error(&body, "ORIGIN_NOT_ALLOWED");
    no_cors_headers(&h);
}

#[tokio::test]
async fn the_management_api_answers_preflights_from_its_listed_origins() {
    let app = gateway(&closed_loopback_url()).await;
    // The gateway's own documented route (its other methods are 405) and proxied ones.
    for (route, verb) in [
        ("/api/v1/auth/token", "POST"),
        ("/api/v1/users/me", "GET"),
        ("/api/v1/workflows", "POST"),
        ("/api/v1/chatbots/0190/faqs/0191", "PUT"),
        ("/api/v1/workflows/0190", "DELETE"),
    ] {
        let (status, h, body) =
            preflight(&app, route, APP, verb, "authorization,content-type").await;
        assert_eq!(status, 200, "{route}: {body}");
        assert_eq!(one(&h, "access-control-allow-origin"), APP, "{route}");
        let methods = one(&h, "access-control-allow-methods");
        assert!(listed(methods, verb), "{route}: {methods}");
        let allowed = one(&h, "access-control-allow-headers");
        assert!(
            listed(allowed, "authorization") && listed(allowed, "content-type"),
            "{allowed}"
        );
        assert_eq!(one(&h, "access-control-max-age"), "600");
        assert!(listed(one(&h, "vary"), "origin"));
        assert!(h.get("access-control-allow-credentials").is_none());
    }
    // The second listed origin too, normalised as browsers send it.
    let (status, h, _) = preflight(
        &app,
        "/api/v1/workflows",
        "http://localhost:5173",
        "GET",
        "authorization",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        one(&h, "access-control-allow-origin"),
        "http://localhost:5173"
    );

    // A real request from a listed origin can be read, its error answers included.
    let response = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    let h = response.headers().clone();
    let (status, body) = read(response).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(one(&h, "access-control-allow-origin"), APP);
    assert!(listed(
        one(&h, "access-control-expose-headers"),
        "retry-after"
    ));
}

#[tokio::test]
async fn an_unlisted_origin_gets_no_cors_headers_from_the_management_api() {
    let app = gateway(&closed_loopback_url()).await;
    // SHOP may embed a widget; that does not open the management API to it.
    for origin in [EVIL, SHOP, "https://app.example.com:8443", "null"] {
        let (status, h, body) =
            preflight(&app, "/api/v1/workflows", origin, "GET", "authorization").await;
        assert_eq!(status, 403, "{origin}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_error(&body, "ORIGIN_NOT_ALLOWED");
        no_cors_headers(&h);
        assert!(listed(one(&h, "vary"), "origin"));

        let response = app
            .client
            .get(app.url("/api/v1/users/me"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        no_cors_headers(response.headers());
    }
    // A listed origin asking for a method or header the API does not take.
    let (status, h, body) =
        preflight(&app, "/api/v1/workflows", APP, "TRACE", "authorization").await;
    assert_eq!(status, 403, "{body}");
    no_cors_headers(&h);
    let (status, _, body) = preflight(
        &app,
        "/api/v1/workflows",
        APP,
        "GET",
        "x-echoflow-internal-token",
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn without_allowed_origins_no_page_may_call_the_management_api() {
    let app = spawn_app_with_settings(Vec::new()).await;
    let (status, h, body) =
        preflight(&app, "/api/v1/auth/token", APP, "POST", "content-type").await;
    assert_eq!(status, 403, "{body}");
    no_cors_headers(&h);
    // The widget's routes do not depend on the allow-list.
    let (status, h, _) = preflight(&app, "/api/v1/chat", APP, "POST", "content-type").await;
    assert_eq!(status, 204);
    assert_eq!(one(&h, "access-control-allow-origin"), APP);
}

#[tokio::test]
async fn an_options_request_that_is_no_preflight_is_still_405_on_a_documented_path() {
    let app = gateway(&closed_loopback_url()).await;
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/auth/token"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers().get("allow").unwrap(), "POST");
    let (_, body) = read(response).await;
    assert_error(&body, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn an_allowed_origin_that_is_not_an_origin_stops_the_start() {
    use echoflow_service_kit::Service;
    for bad in [
        "https://app.example.com/admin",
        "app.example.com",
        "https://a.example,*",
    ] {
        let settings = echoflow_gateway::Settings::load(&[
            ("server.host", "127.0.0.1".into()),
            ("server.port", "0".into()),
            ("database.url", "sqlite::memory:".into()),
            ("cors.allowed_origins", bad.into()),
        ])
        .unwrap();
        let bus: echoflow_bus::SharedBus = std::sync::Arc::new(echoflow_bus::InProcessBus::new());
        let err = match echoflow_gateway::Application::build(settings, bus).await {
            Ok(_) => panic!("{bad} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("ECHOFLOW_CORS__ALLOWED_ORIGINS"),
            "{bad}: {err}"
        );
    }
}

#[tokio::test]
async fn every_widget_route_counts_against_its_keys_budget_and_the_page_reads_the_refusal() {
    let chat = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"items": [], "total": 0})),
        )
        .expect(2)
        .mount(&chat)
        .await;
    let app = spawn_app_configured(
        &closed_loopback_url(),
        &closed_loopback_url(),
        vec![
            ("services.chat_url", chat.uri()),
            ("rate_limit.chat_per_key_per_minute", "2".into()),
        ],
    )
    .await;
    let get = |route: &str| {
        app.client
            .get(app.url(route))
            .header("x-chatbot-key", "ecb_key")
            .header("origin", SHOP)
            .send()
    };
    assert_eq!(get("/api/v1/chat/config").await.unwrap().status(), 200);
    assert_eq!(get("/api/v1/chat/faqs").await.unwrap().status(), 200);
    let throttled = get("/api/v1/chat/faqs").await.unwrap();
    let h = throttled.headers().clone();
    let (status, body) = read(throttled).await;
    assert_eq!(status, 429, "{body}");
    assert_error(&body, "RATE_LIMITED");
    // The refusal tells nothing of a chatbot: the widget's page reads why, and when to retry.
    page_reads(&h, SHOP);
    assert!(h.get("retry-after").is_some());
    chat.verify().await;
}

/// The gateway's own refusal on a widget route, as a page at `origin` must be able to read it.
fn page_reads(h: &HeaderMap, origin: &str) {
    assert_eq!(one(h, "access-control-allow-origin"), origin);
    assert_eq!(one(h, "access-control-expose-headers"), "Retry-After");
    assert!(listed(one(h, "vary"), "origin"));
    assert!(h.get("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn a_widget_route_whose_chat_is_unreachable_is_a_503_the_page_reads() {
    let app = gateway(&closed_loopback_url()).await;
    for origin in [SHOP, EVIL] {
        let response = app
            .client
            .post(app.url("/api/v1/chat"))
            .header("origin", origin)
            .header("x-chatbot-key", "ecb_key")
            .json(&serde_json::json!({"message": "hi"}))
            .send()
            .await
            .unwrap();
        let h = response.headers().clone();
        let (status, body) = read(response).await;
        assert_eq!(status, 503, "{body}");
        assert_error(&body, "SERVICE_UNAVAILABLE");
        page_reads(&h, origin);
    }
    // Without Origin (not a browser): no CORS header.
    let response = app
        .client
        .post(app.url("/api/v1/chat"))
        .header("x-chatbot-key", "ecb_key")
        .json(&serde_json::json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    no_cors_headers(response.headers());
}
