//! The catalogue's data: for each node kind its label, description, config
//! schema (its own fields; the step policy keys are added to every one),
//! output handles and an example config. A data table, one arm per kind.

use serde_json::{Map, Value, json};

use super::{MAX_DEBOUNCE_SECONDS, NodeTypeSpec, config_schema};
use crate::kind::NodeKind;
use crate::respond::{DEFAULT_TIMEOUT_SECONDS, MAX_STATUS, MAX_TIMEOUT_SECONDS, MIN_STATUS};

/// The palette entry of `kind`.
pub(super) fn spec_of(kind: NodeKind) -> NodeTypeSpec {
    use NodeKind::*;
    let entry =
        |label, description, config_schema, handles: &[&'static str], example| NodeTypeSpec {
            kind,
            category: kind.category(),
            label,
            description,
            config_schema,
            handles: handles.to_vec(),
            example,
        };
    match kind {
        TriggerWebhook => entry(
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
                    "dedupe_window_seconds": {"type": "integer", "minimum": 1, "maximum": 604_800, "default": 86_400},
                    "respond": {"type": "string", "enum": ["immediately", "when_finished"], "default": "immediately",
                        "description": "immediately: answer 202 with the execution id once the run is queued. when_finished: the caller waits for the workflow's answer: its action.respond step (status, headers, body), else when the run ends 200 with the last step's output, or 500 with the execution id when it failed; after respond_timeout_seconds, 202 with the execution id."},
                    "respond_timeout_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECONDS, "default": DEFAULT_TIMEOUT_SECONDS,
                        "description": "With respond: when_finished, how long the caller waits before it gets 202 with the execution id; capped by the registry's webhook_respond_max_secs."}
                }),
                &[],
            ),
            &[],
            json!({
                "hmac_secret": "a-long-shared-secret",
                "signature_header": "X-Signature",
                "idempotency_header": "X-Delivery-Id",
                "dedupe_window_seconds": 3600
            }),
        ),
        TriggerManual => entry(
            "Manual run",
            "Starts when the workflow is executed by hand; the data is the input given.",
            config_schema(json!({}), &[]),
            &[],
            json!({}),
        ),
        TriggerSchedule => entry(
            "Schedule",
            "Starts on a cron schedule.",
            config_schema(
                json!({"cron": non_empty_string(), "timezone": non_empty_string()}),
                &["cron"],
            ),
            &[],
            json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}),
        ),
        TriggerEvent => entry(
            "Event",
            "Starts on an event from the bus; filter is an expression over `event`.",
            config_schema(
                json!({"event_type": non_empty_string(), "filter": string()}),
                &["event_type"],
            ),
            &[],
            json!({"event_type": "custom.order_paid", "filter": "{{ event.data.total > 100 }}"}),
        ),
        TriggerConversationStarted => entry(
            "Conversation started",
            "Starts when an end user opens a new conversation of the workflow's chatbot, \
             optionally only when the first message contains a text (any case). \
             Data: {chatbot_id, session_id, message_id, user_email, text}.",
            conversation_schema(json!({"contains": contains()}), &[]),
            &[],
            json!({"debounce_seconds": 3600}),
        ),
        TriggerMessageReceived => entry(
            "Message received",
            "Starts when a message arrives in a conversation of the workflow's chatbot, \
             optionally only when it contains a text (any case). \
             Data: {chatbot_id, session_id, message_id, user_email, text, sentiment, intent}.",
            conversation_schema(json!({"contains": contains()}), &[]),
            &[],
            json!({"contains": "refund"}),
        ),
        TriggerSentiment => entry(
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
            &[],
            json!({"threshold": -0.5, "direction": "below", "debounce_seconds": 600}),
        ),
        TriggerIntentDetected => entry(
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
            &[],
            json!({"intent": "book_service", "min_confidence": 0.5}),
        ),
        TriggerImageUploaded => entry(
            "Image uploaded",
            "Starts when an image is uploaded.",
            config_schema(json!({}), &[]),
            &[],
            json!({}),
        ),
        ActionHttpRequest => entry(
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
            &[],
            json!({
                "method": "POST",
                "url": "https://api.example.com/customers/lookup",
                "headers": {"Authorization": "Bearer {{ trigger.data.token }}"},
                "body": {"email": "{{ trigger.data.user_email }}"},
                "timeout_ms": 10000,
                "retry": {"max_attempts": 3, "backoff": "exponential", "delay_ms": 500, "jitter": true}
            }),
        ),
        ActionSet => entry(
            "Set values",
            "Builds an object from expressions. Output: the values.",
            config_schema(json!({"values": {"type": "object"}}), &["values"]),
            &[],
            json!({"values": {"email": "{{ trigger.data.user_email }}", "vip": true}}),
        ),
        ConditionIf => entry(
            "If",
            "Leaves by `true` or `false` depending on a condition.",
            config_schema(json!({"condition": non_empty_string()}), &["condition"]),
            &["true", "false"],
            json!({"condition": "{{ steps.lookup.output.status == 200 }}"}),
        ),
        ConditionSwitch => entry(
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
            &["default"],
            json!({"cases": [
                {"handle": "gold", "condition": "{{ steps.lookup.output.body.tier == 'gold' }}"},
                {"handle": "silver", "condition": "{{ steps.lookup.output.body.tier == 'silver' }}"}
            ]}),
        ),
        ActionDelay => entry(
            "Delay",
            "Waits before the next step.",
            config_schema(
                json!({"duration_ms": {"type": "integer", "minimum": 0, "maximum": 86_400_000}}),
                &["duration_ms"],
            ),
            &[],
            json!({"duration_ms": 60000}),
        ),
        ActionSendMessage => entry(
            "Send message",
            "Answers in the conversation that triggered the workflow (or in `session_id`, a conversation of the same chatbot). Output: {message_id, session_id, text}.",
            config_schema(
                json!({"text": non_empty_string(), "session_id": non_empty_string()}),
                &["text"],
            ),
            &[],
            json!({"text": "Thanks {{ trigger.data.user_email }}, a person will call you shortly."}),
        ),
        ActionTagConversation => entry(
            "Tag conversation",
            "Adds a tag to the conversation that triggered the workflow (or to `session_id`). Output: {session_id, tag, tags}.",
            config_schema(
                json!({"tag": non_empty_string(), "session_id": non_empty_string()}),
                &["tag"],
            ),
            &[],
            json!({"tag": "escalate"}),
        ),
        ActionAiText => entry(
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
            &[],
            json!({
                "prompt": "Summarise this message in one sentence: {{ trigger.data.text }}",
                "schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
            }),
        ),
        ActionSlackPostMessage => entry(
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
            &[],
            json!({
                "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
                "channel": "#support",
                "text": "Escalation from {{ trigger.data.user_email }}: {{ trigger.data.text }}"
            }),
        ),
        ActionHubspotCreateContact => entry(
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
            &[],
            json!({
                "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
                "email": "{{ trigger.data.user_email }}",
                "firstname": "{{ steps.extract.output.first_name }}",
                "properties": {"lifecyclestage": "lead"}
            }),
        ),
        ActionSheetsAppendRow => entry(
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
            &[],
            json!({
                "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
                "spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms",
                "range": "Leads!A:C",
                "values": ["{{ trigger.data.user_email }}", "{{ trigger.data.text }}", "chat"]
            }),
        ),
        ActionSalesforceCreateLead => entry(
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
            &[],
            json!({
                "connection_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
                "last_name": "{{ steps.extract.output.last_name }}",
                "company": "{{ steps.extract.output.company }}",
                "email": "{{ trigger.data.user_email }}"
            }),
        ),
        ActionRespond => entry(
            "Respond to webhook",
            "Answers the waiting webhook caller with a status, headers and a body (JSON, or a string sent as text), \
             so the workflow serves as an API. Only in a workflow whose trigger is a webhook with respond: when_finished; \
             the first respond step reached answers and the run goes on. Status 200 to 599; no hop-by-hop, Content-Length, \
             Set-Cookie or X-Echoflow-* headers; body at most 256 KiB. Output: {status, headers, body}.",
            config_schema(
                json!({
                    "status": {"type": "integer", "minimum": MIN_STATUS, "maximum": MAX_STATUS, "default": 200},
                    "headers": string_map(),
                    "body": {"description": "JSON (sent as application/json) or a string (sent as text/plain); expressions are rendered."}
                }),
                &[],
            ),
            &[],
            json!({
                "status": 201,
                "headers": {"Location": "/orders/{{ steps.save.output.id }}"},
                "body": {"id": "{{ steps.save.output.id }}", "status": "created"}
            }),
        ),
        FlowMerge => entry(
            "Merge",
            "Waits for its incoming branches. Output: the incoming outputs by node id.",
            config_schema(json!({}), &[]),
            &[],
            json!({}),
        ),
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
