//! The node types a workflow may use, each with the JSON Schema of its config.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// One entry of the palette served at `GET /api/v1/node-types`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTypeSpec {
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// "trigger" | "action" | "condition" | "flow"
    pub category: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub config_schema: Value,
    /// Output handles; empty means the single default output.
    /// `condition.switch` lists only `default`: its other handles are its cases.
    pub handles: Vec<&'static str>,
    /// A config the schema accepts, to start from in an editor.
    pub example: Value,
}

/// The whole catalogue, built once.
pub fn catalogue() -> &'static [NodeTypeSpec] {
    &CATALOGUE
}

/// The spec of one node type, if it exists.
pub fn node_type(type_name: &str) -> Option<&'static NodeTypeSpec> {
    CATALOGUE.iter().find(|spec| spec.type_name == type_name)
}

/// Node types whose runtime ships today. The others are part of the
/// designed catalogue but need services (AI, schedules, images) that are not
/// built yet: the registry refuses them on save and the palette hides them.
pub const AVAILABLE: [&str; 21] = [
    "trigger.webhook",
    "trigger.manual",
    "trigger.schedule",
    "trigger.event",
    "trigger.conversation_started",
    "trigger.message_received",
    "trigger.sentiment",
    "trigger.intent_detected",
    "action.http_request",
    "action.set",
    "condition.if",
    "condition.switch",
    "action.delay",
    "flow.merge",
    "action.send_message",
    "action.tag_conversation",
    "action.ai_text",
    "action.slack_post_message",
    "action.hubspot_create_contact",
    "action.sheets_append_row",
    "action.salesforce_create_lead",
];

/// Whether a workflow may use `type_name` today.
pub fn is_available(type_name: &str) -> bool {
    AVAILABLE.contains(&type_name)
}

/// Whether `type_name` names a trigger (starts a workflow).
pub fn is_trigger(type_name: &str) -> bool {
    type_name.starts_with("trigger.")
}

/// The compiled config validator of a node type, built once per type.
pub(crate) fn validator(type_name: &str) -> Option<&'static jsonschema::Validator> {
    VALIDATORS.get(type_name)
}

/// Step policy keys every node type accepts beside its own config fields.
pub(crate) const POLICY_KEYS: [&str; 3] = ["retry", "timeout_ms", "on_error"];

static CATALOGUE: LazyLock<Vec<NodeTypeSpec>> = LazyLock::new(build);

static VALIDATORS: LazyLock<HashMap<&'static str, jsonschema::Validator>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .filter_map(|spec| {
            // The schemas are written below; a broken one is caught by the tests, and a type
            // without a validator is reported as a fault by compile() rather than a panic.
            jsonschema::draft202012::new(&spec.config_schema)
                .ok()
                .map(|v| (spec.type_name, v))
        })
        .collect()
});

fn policy_properties() -> Map<String, Value> {
    let mut props = Map::new();
    props.insert(
        "retry".into(),
        json!({
            "type": "object",
            "description": "Retry the step when it fails.",
            "properties": {
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10,
                                 "description": "Attempts in total, the first included."},
                "backoff": {"enum": ["fixed", "linear", "exponential"], "default": "fixed"},
                "delay_ms": {"type": "integer", "minimum": 0, "maximum": 3_600_000, "default": 1000},
                "max_delay_ms": {"type": "integer", "minimum": 0, "maximum": 3_600_000},
                "jitter": {"type": "boolean", "default": false}
            },
            "required": ["max_attempts"],
            "additionalProperties": false
        }),
    );
    props.insert(
        "timeout_ms".into(),
        json!({"type": "integer", "minimum": 1, "maximum": 300_000,
               "description": "Fail the step when it runs longer."}),
    );
    props.insert(
        "on_error".into(),
        json!({"enum": ["fail", "continue"], "default": "fail",
               "description": "continue leaves by the error handle instead of failing the run."}),
    );
    props
}

/// Wraps a type's own fields into a config schema that also allows the policy keys.
fn config_schema(own: Value, required: &[&str]) -> Value {
    let mut props = policy_properties();
    if let Value::Object(own) = own {
        props.extend(own);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false
    })
}

fn spec(
    type_name: &'static str,
    label: &'static str,
    description: &'static str,
    schema: Value,
    handles: Vec<&'static str>,
) -> NodeTypeSpec {
    let category = match type_name.split('.').next() {
        Some("trigger") => "trigger",
        Some("condition") => "condition",
        Some("flow") => "flow",
        _ => "action",
    };
    NodeTypeSpec {
        type_name,
        category,
        label,
        description,
        config_schema: schema,
        handles,
        example: example_config(type_name),
    }
}

/// A realistic config of each node type (checked against its schema by the tests).
fn example_config(type_name: &str) -> Value {
    match type_name {
        "trigger.webhook" => json!({
            "hmac_secret": "a-long-shared-secret",
            "signature_header": "X-Signature",
            "idempotency_header": "X-Delivery-Id",
            "dedupe_window_seconds": 3600
        }),
        "trigger.schedule" => json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}),
        "trigger.event" => {
            json!({"event_type": "custom.order_paid", "filter": "{{ event.data.total > 100 }}"})
        }
        "trigger.conversation_started" => json!({"debounce_seconds": 3600}),
        "trigger.message_received" => json!({"contains": "refund"}),
        "trigger.sentiment" => {
            json!({"threshold": -0.5, "direction": "below", "debounce_seconds": 600})
        }
        "trigger.intent_detected" => json!({"intent": "book_service", "min_confidence": 0.5}),
        "action.http_request" => json!({
            "method": "POST",
            "url": "https://api.example.com/customers/lookup",
            "headers": {"Authorization": "Bearer {{ trigger.data.token }}"},
            "body": {"email": "{{ trigger.data.user_email }}"},
            "timeout_ms": 10000,
            "retry": {"max_attempts": 3, "backoff": "exponential", "delay_ms": 500, "jitter": true}
        }),
        "action.set" => json!({"values": {"email": "{{ trigger.data.user_email }}", "vip": true}}),
        "condition.if" => json!({"condition": "{{ steps.lookup.output.status == 200 }}"}),
        "condition.switch" => json!({"cases": [
            {"handle": "gold", "condition": "{{ steps.lookup.output.body.tier == 'gold' }}"},
            {"handle": "silver", "condition": "{{ steps.lookup.output.body.tier == 'silver' }}"}
        ]}),
        "action.delay" => json!({"duration_ms": 60000}),
        "action.send_message" => {
            json!({"text": "Thanks {{ trigger.data.user_email }}, a person will call you shortly."})
        }
        "action.tag_conversation" => json!({"tag": "escalate"}),
        "action.ai_text" => json!({
            "prompt": "Summarise this message in one sentence: {{ trigger.data.text }}",
            "schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
        }),
        "action.slack_post_message" => json!({
            "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
            "channel": "#support",
            "text": "Escalation from {{ trigger.data.user_email }}: {{ trigger.data.text }}"
        }),
        "action.hubspot_create_contact" => json!({
            "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
            "email": "{{ trigger.data.user_email }}",
            "firstname": "{{ steps.extract.output.first_name }}",
            "properties": {"lifecyclestage": "lead"}
        }),
        "action.sheets_append_row" => json!({
            "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
            "spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
            "range": "Leads!A:C",
            "values": ["{{ trigger.data.user_email }}", "{{ trigger.data.text }}", "chat"]
        }),
        "action.salesforce_create_lead" => json!({
            "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
            "last_name": "{{ steps.extract.output.last_name }}",
            "company": "{{ steps.extract.output.company }}",
            "email": "{{ trigger.data.user_email }}"
        }),
        _ => json!({}),
    }
}

/// The `connection_id` of an integration action: one of the owner's connections.
fn connection_id() -> Value {
    json!({"type": "string", "minLength": 1,
           "description": "A connection of the workflow's owner (GET /api/v1/integrations), of this node's provider."})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn non_empty_string() -> Value {
    json!({"type": "string", "minLength": 1})
}

/// The longest debounce window of a conversation trigger: 30 days.
pub const MAX_DEBOUNCE_SECONDS: u64 = 30 * 24 * 3600;

/// The config schema of a conversation trigger: its own fields plus `debounce_seconds`.
fn conversation_schema(own: Value, required: &[&str]) -> Value {
    let mut props = match own {
        Value::Object(own) => own,
        _ => Map::new(),
    };
    props.insert(
        "debounce_seconds".into(),
        json!({"type": "integer", "minimum": 1, "maximum": MAX_DEBOUNCE_SECONDS,
               "description": "Fire at most once per conversation within this many seconds."}),
    );
    config_schema(Value::Object(props), required)
}

fn contains() -> Value {
    json!({"type": "string",
           "description": "Only when the message text contains this text, in any case."})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

fn build() -> Vec<NodeTypeSpec> {
    vec![
        spec(
            "trigger.webhook",
            "Webhook",
            "Starts when an HTTP request reaches the workflow's webhook URL. Data: {body, headers, query}.",
            config_schema(
                json!({
                    "hmac_secret": {"type": "string", "minLength": 1, "writeOnly": true,
                        "description": "Deliveries must be signed with this secret. Stored encrypted and never returned: answers show hmac_secret_set instead."},
                    "hmac_secret_set": {"type": "boolean",
                        "description": "Shown instead of hmac_secret. Sent back as true without hmac_secret, it keeps the current secret."},
                    "signature_header": {"type": "string", "minLength": 1, "default": "X-Echoflow-Signature",
                        "description": "The header that carries the signature."},
                    "signature_scheme": {"type": "string", "enum": ["sha256", "timestamped"], "default": "sha256",
                        "description": "sha256: the header is sha256=<hex HMAC-SHA256 of the body>. timestamped: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">, refused outside the registry's tolerance (webhook_signature_tolerance_secs), so a delivery cannot be replayed later."},
                    "idempotency_header": {"type": "string", "minLength": 1, "default": "Idempotency-Key",
                        "description": "A delivery repeating this header's value within the window answers with the first delivery's execution."},
                    "dedupe_payload": {"type": "boolean", "default": false,
                        "description": "Also treat a delivery without the header whose body is byte-identical to an earlier one as a repeat."},
                    "dedupe_window_seconds": {"type": "integer", "minimum": 1, "maximum": 604_800, "default": 86_400}
                }),
                &[],
            ),
            vec![],
        ),
        spec(
            "trigger.manual",
            "Manual run",
            "Starts when the workflow is executed by hand; the data is the input given.",
            config_schema(json!({}), &[]),
            vec![],
        ),
        spec(
            "trigger.schedule",
            "Schedule",
            "Starts on a cron schedule.",
            config_schema(
                json!({"cron": non_empty_string(), "timezone": non_empty_string()}),
                &["cron"],
            ),
            vec![],
        ),
        spec(
            "trigger.event",
            "Event",
            "Starts on an event from the bus; filter is an expression over `event`.",
            config_schema(
                json!({"event_type": non_empty_string(), "filter": string()}),
                &["event_type"],
            ),
            vec![],
        ),
        spec(
            "trigger.conversation_started",
            "Conversation started",
            "Starts when an end user opens a new conversation of the workflow's chatbot, \
             optionally only when the first message contains a text (any case). \
             Data: {chatbot_id, session_id, message_id, user_email, text}.",
            conversation_schema(json!({"contains": contains()}), &[]),
            vec![],
        ),
        spec(
            "trigger.message_received",
            "Message received",
            "Starts when a message arrives in a conversation of the workflow's chatbot, \
             optionally only when it contains a text (any case). \
             Data: {chatbot_id, session_id, message_id, user_email, text, sentiment, intent}.",
            conversation_schema(json!({"contains": contains()}), &[]),
            vec![],
        ),
        spec(
            "trigger.sentiment",
            "Sentiment",
            "Starts when a message's sentiment score (-1 to 1) is at or below, or at or above, \
             a threshold. Data: {chatbot_id, session_id, message_id, user_email, text, score, label}.",
            conversation_schema(
                json!({
                    "threshold": {"type": "number", "minimum": -1, "maximum": 1,
                                  "description": "Sentiment score from -1 (negative) to 1 (positive)."},
                    "direction": {"enum": ["below", "above"],
                                  "description": "below: score <= threshold; above: score >= threshold."}
                }),
                &["threshold", "direction"],
            ),
            vec![],
        ),
        spec(
            "trigger.intent_detected",
            "Intent detected",
            "Starts when a named intent (any case) is detected in a message with at least a \
             minimum confidence. Data: {chatbot_id, session_id, message_id, user_email, text, \
             intent, confidence}.",
            conversation_schema(
                json!({
                    "intent": non_empty_string(),
                    "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0}
                }),
                &["intent"],
            ),
            vec![],
        ),
        spec(
            "trigger.image_uploaded",
            "Image uploaded",
            "Starts when an image is uploaded.",
            config_schema(json!({}), &[]),
            vec![],
        ),
        spec(
            "action.http_request",
            "HTTP request",
            "Calls an HTTP API. Output: {status, headers, body}. A 4xx or 5xx answer fails the step by its class (5xx and 408 transient, 429 rate limited, other 4xx configuration) unless fail_on_error_status is false.",
            config_schema(
                json!({
                    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
                    "url": non_empty_string(),
                    "headers": string_map(),
                    "query": string_map(),
                    "body": {},
                    "fail_on_error_status": {"type": "boolean", "default": true,
                        "description": "A 4xx or 5xx answer fails the step (and is retried by its class); false makes any status a result."}
                }),
                &["method", "url"],
            ),
            vec![],
        ),
        spec(
            "action.set",
            "Set values",
            "Builds an object from expressions. Output: the values.",
            config_schema(json!({"values": {"type": "object"}}), &["values"]),
            vec![],
        ),
        spec(
            "condition.if",
            "If",
            "Leaves by `true` or `false` depending on a condition.",
            config_schema(json!({"condition": non_empty_string()}), &["condition"]),
            vec!["true", "false"],
        ),
        spec(
            "condition.switch",
            "Switch",
            "Leaves by the handle of the first case whose condition holds, or by `default`.",
            config_schema(
                json!({"cases": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {"handle": non_empty_string(), "condition": non_empty_string()},
                        "required": ["handle", "condition"],
                        "additionalProperties": false
                    }
                }}),
                &["cases"],
            ),
            vec!["default"],
        ),
        spec(
            "action.delay",
            "Delay",
            "Waits before the next step.",
            config_schema(
                json!({"duration_ms": {"type": "integer", "minimum": 0, "maximum": 86_400_000}}),
                &["duration_ms"],
            ),
            vec![],
        ),
        spec(
            "action.send_message",
            "Send message",
            "Answers in the conversation that triggered the workflow (or in `session_id`, a conversation of the same chatbot). Output: {message_id, session_id, text}.",
            config_schema(
                json!({"text": non_empty_string(), "session_id": non_empty_string()}),
                &["text"],
            ),
            vec![],
        ),
        spec(
            "action.tag_conversation",
            "Tag conversation",
            "Adds a tag to the conversation that triggered the workflow (or to `session_id`). Output: {session_id, tag, tags}.",
            config_schema(
                json!({"tag": non_empty_string(), "session_id": non_empty_string()}),
                &["tag"],
            ),
            vec![],
        ),
        spec(
            "action.ai_text",
            "AI text",
            "Generates text with the language model; with a schema, the parsed JSON.",
            config_schema(
                json!({
                    "prompt": non_empty_string(),
                    "schema": {"type": "object",
                               "description": "A JSON Schema the answer must match; the output is then the parsed JSON."},
                    "system": {"type": "string", "description": "The system message."},
                    "model": {"type": "string", "minLength": 1,
                              "description": "The model to ask instead of executor.ai_model."},
                    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                    "max_tokens": {"type": "integer", "minimum": 1}
                }),
                &["prompt"],
            ),
            vec![],
        ),
        spec(
            "action.slack_post_message",
            "Slack: post message",
            "Posts to a Slack channel through a Slack connection. Output: {ok, channel, ts}.",
            config_schema(
                json!({
                    "connection_id": connection_id(),
                    "channel": {"type": "string", "minLength": 1,
                                "description": "Channel id or name (#support)."},
                    "text": non_empty_string(),
                    "blocks": {"type": ["array", "string"],
                               "description": "Block Kit blocks (or an expression giving them)."},
                    "thread_ts": non_empty_string()
                }),
                &["connection_id", "channel", "text"],
            ),
            vec![],
        ),
        spec(
            "action.hubspot_create_contact",
            "HubSpot: create contact",
            "Creates a HubSpot contact; an existing contact with that email is returned instead. Output: {id, created, properties}.",
            config_schema(
                json!({
                    "connection_id": connection_id(),
                    "email": non_empty_string(),
                    "firstname": string(),
                    "lastname": string(),
                    "phone": string(),
                    "company": string(),
                    "properties": {"type": ["object", "string"],
                                   "description": "More HubSpot properties, merged in."}
                }),
                &["connection_id", "email"],
            ),
            vec![],
        ),
        spec(
            "action.sheets_append_row",
            "Google Sheets: append row",
            "Appends a row (or rows) to a Google Sheet. Output: {updated_range, updated_rows}.",
            config_schema(
                json!({
                    "connection_id": connection_id(),
                    "spreadsheet_id": non_empty_string(),
                    "range": {"type": "string", "minLength": 1, "default": "Sheet1",
                              "description": "A1 range or sheet name to append after."},
                    "values": {"type": ["array", "string"], "minItems": 1,
                               "description": "The row's cells, an array of rows, or an expression giving either."}
                }),
                &["connection_id", "spreadsheet_id", "values"],
            ),
            vec![],
        ),
        spec(
            "action.salesforce_create_lead",
            "Salesforce: create lead",
            "Creates a Salesforce lead. Output: {id, success}.",
            config_schema(
                json!({
                    "connection_id": connection_id(),
                    "last_name": non_empty_string(),
                    "company": non_empty_string(),
                    "first_name": string(),
                    "email": string(),
                    "phone": string(),
                    "fields": {"type": ["object", "string"],
                               "description": "More Lead fields by API name, merged in."}
                }),
                &["connection_id", "last_name", "company"],
            ),
            vec![],
        ),
        spec(
            "flow.merge",
            "Merge",
            "Waits for its incoming branches. Output: the incoming outputs by node id.",
            config_schema(json!({}), &[]),
            vec![],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the catalogue: every schema accepts its type's example and
    /// rejects a broken config (an unknown key; each required field missing;
    /// a config that is not an object).
    #[test]
    fn every_schema_accepts_its_example_and_rejects_broken_configs() {
        for spec in catalogue() {
            let t = spec.type_name;
            assert!(accepts(t, spec.example.clone()), "{t} refuses its example");
            let mut unknown = spec.example.clone();
            unknown["no_such_field"] = json!(1);
            assert!(!accepts(t, unknown), "{t} accepts an unknown key");
            assert!(!accepts(t, json!("not an object")), "{t} accepts a string");
            let required = spec.config_schema["required"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for field in required {
                let mut missing = spec.example.clone();
                missing
                    .as_object_mut()
                    .unwrap()
                    .remove(field.as_str().unwrap());
                assert!(!accepts(t, missing), "{t} accepts a config without {field}");
            }
            let mut bad_policy = spec.example.clone();
            bad_policy["on_error"] = json!("explode");
            assert!(!accepts(t, bad_policy), "{t} accepts on_error: explode");
        }
    }

    #[test]
    fn every_schema_compiles_and_allows_policy_keys() {
        for spec in catalogue() {
            let validator = validator(spec.type_name);
            assert!(
                validator.is_some(),
                "{} schema does not compile",
                spec.type_name
            );
            let props = &spec.config_schema["properties"];
            for key in POLICY_KEYS {
                assert!(props.get(key).is_some(), "{} lacks {key}", spec.type_name);
            }
        }
    }

    fn accepts(type_name: &str, config: Value) -> bool {
        validator(type_name).is_some_and(|v| v.is_valid(&config))
    }

    #[test]
    fn conversation_triggers_are_available_with_their_config() {
        for t in [
            "trigger.conversation_started",
            "trigger.message_received",
            "trigger.sentiment",
            "trigger.intent_detected",
        ] {
            assert!(is_available(t), "{t}");
        }
        assert!(accepts("trigger.conversation_started", json!({})));
        assert!(accepts(
            "trigger.message_received",
            json!({"contains": "refund"})
        ));
        assert!(!accepts("trigger.message_received", json!({"contains": 3})));
        assert!(accepts(
            "trigger.sentiment",
            json!({"threshold": -0.5, "direction": "below"})
        ));
        assert!(accepts(
            "trigger.sentiment",
            json!({"threshold": 1, "direction": "above"})
        ));
        assert!(!accepts("trigger.sentiment", json!({"threshold": -0.5})));
        assert!(!accepts(
            "trigger.sentiment",
            json!({"threshold": -1.5, "direction": "below"})
        ));
        assert!(!accepts(
            "trigger.sentiment",
            json!({"threshold": 0, "direction": "sideways"})
        ));
        assert!(accepts(
            "trigger.intent_detected",
            json!({"intent": "refund", "min_confidence": 0.7})
        ));
        assert!(!accepts("trigger.intent_detected", json!({"intent": ""})));
        assert!(!accepts(
            "trigger.intent_detected",
            json!({"intent": "refund", "min_confidence": 1.5})
        ));
        assert!(!accepts("trigger.intent_detected", json!({})));
    }

    #[test]
    fn conversation_triggers_take_a_bounded_debounce_and_trigger_event_none() {
        for (t, base) in [
            ("trigger.conversation_started", json!({})),
            ("trigger.message_received", json!({})),
            (
                "trigger.sentiment",
                json!({"threshold": -0.5, "direction": "below"}),
            ),
            ("trigger.intent_detected", json!({"intent": "refund"})),
        ] {
            let with = |seconds: Value| {
                let mut config = base.clone();
                config["debounce_seconds"] = seconds;
                config
            };
            assert!(accepts(t, with(json!(600))), "{t}");
            assert!(accepts(t, with(json!(MAX_DEBOUNCE_SECONDS))), "{t}");
            assert!(!accepts(t, with(json!(0))), "{t}");
            assert!(!accepts(t, with(json!(MAX_DEBOUNCE_SECONDS + 1))), "{t}");
            assert!(!accepts(t, with(json!(1.5))), "{t}");
            assert!(!accepts(t, with(json!("600"))), "{t}");
        }
        assert!(!accepts(
            "trigger.event",
            json!({"event_type": "custom.x", "debounce_seconds": 60})
        ));
    }

    #[test]
    fn lookups() {
        assert_eq!(
            node_type("condition.if").map(|s| s.handles.clone()),
            Some(vec!["true", "false"])
        );
        assert_eq!(node_type("flow.merge").map(|s| s.category), Some("flow"));
        assert!(node_type("action.nope").is_none());
        assert!(is_trigger("trigger.webhook"));
        assert!(!is_trigger("action.set"));
        let names: Vec<_> = catalogue().iter().map(|s| s.type_name).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(names.len(), unique.len());
    }
}
