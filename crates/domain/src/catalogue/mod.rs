//! The node types a workflow may use, each with the JSON Schema of its config.

mod table;

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::kind::{Category, NodeKind};

/// One entry of the palette served at `GET /api/v1/node-types`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTypeSpec {
    #[serde(rename = "type")]
    pub kind: NodeKind,
    pub category: Category,
    pub label: &'static str,
    pub description: &'static str,
    pub config_schema: Value,
    /// Output handles; empty means the single default output.
    /// `condition.switch` lists only `default`: its other handles are its cases.
    pub handles: Vec<&'static str>,
    /// A config the schema accepts, to start from in an editor.
    pub example: Value,
}

/// The whole catalogue, built once, in [`NodeKind::ALL`]'s order.
pub fn catalogue() -> &'static [NodeTypeSpec] {
    &CATALOGUE
}

/// The palette entry of one node kind.
pub fn spec(kind: NodeKind) -> &'static NodeTypeSpec {
    &CATALOGUE[kind as usize]
}

/// The compiled config validator of a node kind, built once per kind.
pub(crate) fn validator(kind: NodeKind) -> Option<&'static jsonschema::Validator> {
    VALIDATORS[kind as usize].as_ref()
}

/// Step policy keys every node type accepts beside its own config fields.
pub(crate) const POLICY_KEYS: [&str; 3] = ["retry", "timeout_ms", "on_error"];

/// The longest debounce window of a conversation trigger: 30 days.
pub const MAX_DEBOUNCE_SECONDS: u64 = 30 * 24 * 3600;

/// Indexed by `NodeKind as usize`: [`NodeKind::ALL`] lists the kinds in declaration order.
static CATALOGUE: LazyLock<Vec<NodeTypeSpec>> =
    LazyLock::new(|| NodeKind::ALL.iter().copied().map(table::spec_of).collect());

// The schemas are written in the table; a broken one is caught by the tests, and a kind
// without a validator is reported as a fault by compile() rather than a panic.
static VALIDATORS: LazyLock<Vec<Option<jsonschema::Validator>>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|spec| jsonschema::draft202012::new(&spec.config_schema).ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> NodeKind {
        name.parse().unwrap()
    }

    fn node_type(name: &str) -> Option<&'static NodeTypeSpec> {
        name.parse().ok().map(spec)
    }

    fn is_available(name: &str) -> bool {
        kind(name).is_available()
    }

    fn is_trigger(name: &str) -> bool {
        kind(name).is_trigger()
    }

    /// Walks the catalogue: every schema accepts its type's example and
    /// rejects a broken config (an unknown key; each required field missing;
    /// a config that is not an object).
    #[test]
    fn every_schema_accepts_its_example_and_rejects_broken_configs() {
        for spec in catalogue() {
            let t = spec.kind.as_str();
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
            let validator = validator(spec.kind);
            assert!(validator.is_some(), "{} schema does not compile", spec.kind);
            let props = &spec.config_schema["properties"];
            for key in POLICY_KEYS {
                assert!(props.get(key).is_some(), "{} lacks {key}", spec.kind);
            }
        }
    }

    fn accepts(type_name: &str, config: Value) -> bool {
        validator(kind(type_name)).is_some_and(|v| v.is_valid(&config))
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
        assert_eq!(
            node_type("flow.merge").map(|s| s.category.as_str()),
            Some("flow")
        );
        assert!(node_type("action.nope").is_none());
        assert!(is_trigger("trigger.webhook"));
        assert!(!is_trigger("action.set"));
        let names: Vec<_> = catalogue().iter().map(|s| s.kind.as_str()).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(names.len(), unique.len());
        for kind in NodeKind::ALL {
            assert_eq!(spec(*kind).kind, *kind);
        }
    }

    /// The palette shows what it showed when availability was a list of names.
    #[test]
    fn every_kind_but_image_uploaded_is_available() {
        let hidden: Vec<_> = NodeKind::ALL
            .iter()
            .filter(|k| !k.is_available())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(hidden, ["trigger.image_uploaded"]);
    }
}
