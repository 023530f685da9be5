//! The checks of one node's config: its schema, templates and expressions,
//! and the rules of its kind the schema cannot say.

use std::collections::HashSet;

use echoflow_contracts::EventType;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::{GraphFault, Node};
use crate::catalogue;
use crate::kind::NodeKind;
use crate::{expr, path};

/// Schema, templates, expressions and the type-specific rules of one node's config.
pub(super) fn check_config(kind: NodeKind, node: &Node, at: &str) -> Vec<GraphFault> {
    let config = &node.data.config;
    let mut faults = match catalogue::validator(kind) {
        Some(validator) => schema_faults(validator, config, at),
        None => vec![GraphFault::new(
            at,
            "this node type has no usable config schema",
        )],
    };
    faults.extend(expr::check_templates(config, at));
    match kind {
        NodeKind::ActionHttpRequest => faults.extend(check_url(config, at)),
        NodeKind::ConditionIf => faults.extend(check_expression_field(config, "condition", at)),
        NodeKind::TriggerEvent => {
            faults.extend(check_expression_field(config, "filter", at));
            faults.extend(check_event_type(config, at));
        }
        NodeKind::ConditionSwitch => faults.extend(check_cases(config, at)),
        NodeKind::ActionRespond => faults.extend(crate::respond::config_faults(config, at)),
        _ => {}
    }
    faults
}

fn schema_faults(validator: &jsonschema::Validator, config: &Value, at: &str) -> Vec<GraphFault> {
    let mut faults = Vec::new();
    for error in validator.iter_errors(config) {
        let here = path::from_pointer(at, error.instance_path.as_str(), config);
        match &error.kind {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                faults.push(GraphFault::new(
                    path::key(&here, name),
                    format!("{name} is required"),
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                faults.extend(unexpected.iter().map(|name| {
                    GraphFault::new(path::key(&here, name), format!("unknown field '{name}'"))
                }));
            }
            kind => faults.push(GraphFault::new(
                here,
                schema_message(kind, &error.to_string()),
            )),
        }
    }
    faults
}

fn schema_message(kind: &ValidationErrorKind, fallback: &str) -> String {
    match kind {
        ValidationErrorKind::Type {
            kind: TypeKind::Single(t),
        } => {
            let article = if matches!(
                t,
                jsonschema::JsonType::Array
                    | jsonschema::JsonType::Integer
                    | jsonschema::JsonType::Object
            ) {
                "an"
            } else {
                "a"
            };
            format!("must be {article} {t}")
        }
        ValidationErrorKind::Enum { options } => {
            let listed: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            format!("must be one of {}", listed.join(", "))
        }
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::MinItems { limit: 1 } => "must have at least one item".to_owned(),
        ValidationErrorKind::MinItems { limit } => format!("must have at least {limit} items"),
        _ => fallback.to_owned(),
    }
}

/// A literal URL must be absolute http(s); a templated one is checked when it is rendered.
fn check_url(config: &Value, at: &str) -> Option<GraphFault> {
    let url = config.get("url")?.as_str()?;
    if url.is_empty() || expr::is_templated(url) || is_absolute_http_url(url) {
        return None;
    }
    Some(GraphFault::new(
        path::key(at, "url"),
        "must be an absolute http:// or https:// URL",
    ))
}

fn is_absolute_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    !host.is_empty() && !url.chars().any(char::is_whitespace)
}

/// A lifecycle event (a chatbot deleted, an end user erased) is echoflow's
/// own business and starts no workflow: refused on save, rather than kept
/// as a trigger that never fires.
fn check_event_type(config: &Value, at: &str) -> Option<GraphFault> {
    let name = config.get("event_type")?.as_str()?;
    let event_type = EventType::parse(name).filter(|t| t.is_lifecycle())?;
    let reason = match event_type {
        EventType::ChatbotDeleted => {
            "deleting the chatbot deletes its workflows, this one included, so it would never run"
        }
        EventType::EndUserErased => {
            "a run would keep the erased end user's email in its execution, \
             which the erasure must not leave behind"
        }
        _ => "echoflow handles its lifecycle events itself",
    };
    Some(GraphFault::new(
        path::key(at, "event_type"),
        format!("'{name}' cannot start a workflow: {reason}"),
    ))
}

fn check_expression_field(config: &Value, field: &str, at: &str) -> Option<GraphFault> {
    let source = config.get(field)?.as_str()?;
    expr::check_expression(source, &path::key(at, field))
}

/// Case conditions must parse; case handles must be unique and not shadow `default`/`error`.
fn check_cases(config: &Value, at: &str) -> Vec<GraphFault> {
    let Some(cases) = config.get("cases").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut faults = Vec::new();
    let mut seen = HashSet::new();
    for (k, case) in cases.iter().enumerate() {
        let case_at = path::index(&path::key(at, "cases"), k);
        faults.extend(check_expression_field(case, "condition", &case_at));
        let Some(handle) = case.get("handle").and_then(Value::as_str) else {
            continue;
        };
        let handle_at = path::key(&case_at, "handle");
        if matches!(handle, "default" | "error") {
            faults.push(GraphFault::new(
                handle_at,
                format!("'{handle}' is reserved"),
            ));
        } else if !seen.insert(handle) {
            faults.push(GraphFault::new(
                handle_at,
                format!("duplicate case handle '{handle}'"),
            ));
        }
    }
    faults
}
