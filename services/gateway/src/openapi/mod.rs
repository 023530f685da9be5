//! The merged OpenAPI document: the gateway's own paths plus every service's.

pub mod conventions;
pub mod rules;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::live::ExecutionUpdateEvent;
use crate::routes::{analytics, auth, executions, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "echoflow API", description = "AI chat and workflow automation. Errors are {\"error\": {code, message, details}}."),
    paths(auth::register, auth::token, auth::refresh, auth::logout, users::me, executions::stream,
          analytics::overview, analytics::stream::stream),
    components(schemas(auth::RegisterRequest, auth::UserResponse, auth::TokenRequest, auth::RefreshRequest, auth::TokenResponse, users::Me, ExecutionUpdateEvent,
                       echoflow_analytics::Overview, analytics::stream::LiveCounters)),
    modifiers(&BearerAuth),
    tags((name = "identity", description = "accounts and tokens"), (name = "executions", description = "executions and their live updates"),
          (name = "analytics", description = "per-owner figures over a range, and a live dashboard stream"))
)]
pub struct GatewayDoc;

/// The gateway's own documented paths: a request on one of them with another
/// method is answered 405 here instead of being forwarded.
pub static OWN_PATHS: std::sync::LazyLock<echoflow_service_kit::unmatched::DocumentedPaths> =
    std::sync::LazyLock::new(|| {
        echoflow_service_kit::unmatched::DocumentedPaths::from_openapi(&GatewayDoc::openapi())
    });

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // `POST /api/v1/chat` is called with a chatbot's widget key, not a user's token.
        components.add_security_scheme(
            "chatbotKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Chatbot-Key",
                "the chatbot's API key",
            ))),
        );
        // The end user's conversation routes also need the session token a chat answer handed out.
        components.add_security_scheme(
            "sessionToken",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Session-Token",
                "the `session_token` of a chat answer, proving that conversation",
            ))),
        );
        // `POST /hooks/{token}`: the token in the path is the secret; a
        // workflow may also require an HMAC signature of the body.
        components.add_security_scheme(
            "webhookSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Echoflow-Signature",
                "`sha256=<hex HMAC-SHA256 of the body>` or `t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`, \
                 with the workflow's webhook secret; required only when the trigger sets a secret",
            ))),
        );
    }
}

/// The whole contract: the gateway's own document with every service's
/// (as JSON) merged in, the conventions applied ([`conventions::apply`]), and
/// every object's keys sorted, so the same code always gives the same text
/// (`docs/openapi.json` is this, printed by `echoflow openapi`).
pub fn document(services: &[Value]) -> Value {
    let mut doc = serde_json::to_value(GatewayDoc::openapi()).unwrap_or_else(|_| json!({}));
    for other in services {
        merge_into(&mut doc, other);
    }
    conventions::apply(&mut doc);
    sorted(doc)
}

/// `value` with the keys of every object in it sorted.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Adds `other`'s paths, component schemas and tags to `doc`.
fn merge_into(doc: &mut Value, other: &Value) {
    for section in ["paths"] {
        if let Some(entries) = other.get(section).and_then(Value::as_object) {
            let target = &mut doc[section];
            if !target.is_object() {
                *target = json!({});
            }
            if let Some(target) = target.as_object_mut() {
                target.extend(entries.clone());
            }
        }
    }
    if let Some(schemas) = other
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        if !doc["components"]["schemas"].is_object() {
            doc["components"]["schemas"] = json!({});
        }
        if let Some(target) = doc["components"]["schemas"].as_object_mut() {
            target.extend(schemas.clone());
        }
    }
    if let Some(tags) = other.get("tags").and_then(Value::as_array) {
        if !doc["tags"].is_array() {
            doc["tags"] = json!([]);
        }
        if let Some(target) = doc["tags"].as_array_mut() {
            for tag in tags {
                if !target.iter().any(|t| t["name"] == tag["name"]) {
                    target.push(tag.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_paths_schemas_and_tags_of_any_shape() {
        let mut doc = serde_json::to_value(GatewayDoc::openapi()).unwrap();
        let other = json!({
            "openapi": "3.1.0",
            "paths": {"/api/v1/templates": {"get": {"responses": {}}}},
            "components": {"schemas": {"ParamSpec": {"properties": {"default": {"description": "any value"}}}}},
            "tags": [{"name": "templates"}, {"name": "identity"}]
        });
        merge_into(&mut doc, &other);
        assert!(doc["paths"]["/api/v1/templates"].is_object());
        assert!(
            doc["paths"]["/api/v1/auth/token"].is_object(),
            "own paths kept"
        );
        assert!(doc["components"]["schemas"]["ParamSpec"].is_object());
        assert!(doc["components"]["schemas"]["TokenResponse"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        let tags: Vec<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["identity", "executions", "analytics", "templates"]);
    }
}
