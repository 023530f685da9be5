//! `[[ name ]]` placeholders in a template's definition and their substitution.
//!
//! The syntax is distinct from the `{{ ... }}` runtime expressions, which pass
//! through untouched. A string that is exactly one placeholder takes the
//! parameter's typed value (a number stays a number); any other string gets
//! the value's text in place of each placeholder. Substitution is one pass:
//! a value that itself contains `[[ x ]]` is not substituted again.

use serde_json::{Map, Value};

/// The longest parameter name.
pub const MAX_NAME_LEN: usize = 64;

/// One placeholder in a string: its byte range and the parameter it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Occurrence<'a> {
    start: usize,
    end: usize,
    name: &'a str,
}

/// Whether `name` may name a parameter: lower-case letters, digits and `_`,
/// starting with a letter.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME_LEN
}

fn occurrences(s: &str) -> Vec<Occurrence<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = s[from..].find("[[") {
        let start = from + offset;
        let inner_start = start + 2;
        let Some(close) = s[inner_start..].find("]]") else {
            break;
        };
        let name = s[inner_start..inner_start + close].trim();
        if is_param_name(name) {
            let end = inner_start + close + 2;
            found.push(Occurrence { start, end, name });
            from = end;
        } else {
            // `[[[ a ]]`: the placeholder may start one bracket later.
            from = start + 1;
        }
    }
    found
}

/// Where a placeholder or a suspicious `[[` sits, for template checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `flow_definition.nodes[1].data.config.url`
    pub path: String,
    /// The parameter named, or None for a `[[` that is not a placeholder
    /// (a typo such as `[[ crm-url ]]`) or a placeholder in an object key.
    pub name: Option<String>,
    pub problem: Option<&'static str>,
}

/// Every placeholder in `value` (and every `[[` that does not form one).
pub fn scan(value: &Value, path: &str) -> Vec<Found> {
    let mut found = Vec::new();
    scan_into(value, path, &mut found);
    found
}

fn scan_into(value: &Value, path: &str, found: &mut Vec<Found>) {
    match value {
        Value::String(s) => {
            let occurrences = occurrences(s);
            for o in &occurrences {
                found.push(Found {
                    path: path.to_string(),
                    name: Some(o.name.to_string()),
                    problem: None,
                });
            }
            if without(s, &occurrences).contains("[[") {
                found.push(Found {
                    path: path.to_string(),
                    name: None,
                    problem: Some("'[[' that is not a placeholder `[[ param_name ]]`"),
                });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                scan_into(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let at = format!("{path}.{key}");
                if key.contains("[[") {
                    found.push(Found {
                        path: at.clone(),
                        name: None,
                        problem: Some("placeholders are substituted in values, not in keys"),
                    });
                }
                scan_into(item, &at, found);
            }
        }
        _ => {}
    }
}

/// `s` with its placeholders cut out.
fn without(s: &str, occurrences: &[Occurrence<'_>]) -> String {
    let mut rest = String::with_capacity(s.len());
    let mut at = 0;
    for o in occurrences {
        rest.push_str(&s[at..o.start]);
        at = o.end;
    }
    rest.push_str(&s[at..]);
    rest
}

/// A placeholder naming a parameter that has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("placeholder [[ {0} ]] names no parameter")]
pub struct UnboundPlaceholder(pub String);

/// `value` with every placeholder replaced by the value `lookup` gives.
pub fn substitute<'v>(
    value: &Value,
    lookup: &impl Fn(&str) -> Option<&'v Value>,
) -> Result<Value, UnboundPlaceholder> {
    Ok(match value {
        Value::String(s) => substitute_str(s, lookup)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute(item, lookup))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, lookup)?)))
                .collect::<Result<Map<_, _>, _>>()?,
        ),
        other => other.clone(),
    })
}

fn substitute_str<'v>(
    s: &str,
    lookup: &impl Fn(&str) -> Option<&'v Value>,
) -> Result<Value, UnboundPlaceholder> {
    let occurrences = occurrences(s);
    let value_of = |name: &str| lookup(name).ok_or_else(|| UnboundPlaceholder(name.to_string()));
    if let [only] = occurrences.as_slice()
        && s[..only.start].trim().is_empty()
        && s[only.end..].trim().is_empty()
    {
        return Ok(value_of(only.name)?.clone());
    }
    let mut text = String::with_capacity(s.len());
    let mut at = 0;
    for o in &occurrences {
        text.push_str(&s[at..o.start]);
        text.push_str(&as_text(value_of(o.name)?));
        at = o.end;
    }
    text.push_str(&s[at..]);
    Ok(Value::String(text))
}

/// A value as it reads inside a longer string.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(value: Value, params: Value) -> Result<Value, UnboundPlaceholder> {
        substitute(&value, &|name| params.get(name))
    }

    #[test]
    fn a_whole_placeholder_keeps_the_type_and_text_is_replaced_inside_strings() {
        let params = json!({"n": 3, "x": -0.5, "on": true, "url": "https://crm.example.com/leads", "key": "s3cret"});
        let out = run(
            json!({
                "retry": {"max_attempts": "[[ n ]]"},
                "threshold": "[[x]]",
                "enabled": " [[ on ]] ",
                "url": "[[ url ]]",
                "headers": {"Authorization": "Bearer [[ key ]]"},
                "filter": "{{ event.data.total >= [[ n ]] and [[ on ]] }}",
                "list": ["[[ n ]]", "n=[[ n ]]", 7, null],
                "text": "Hi {{ trigger.data.user_email }}, [[ key ]][[ key ]]"
            }),
            params,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "retry": {"max_attempts": 3},
                "threshold": -0.5,
                "enabled": true,
                "url": "https://crm.example.com/leads",
                "headers": {"Authorization": "Bearer s3cret"},
                "filter": "{{ event.data.total >= 3 and true }}",
                "list": [3, "n=3", 7, null],
                "text": "Hi {{ trigger.data.user_email }}, s3crets3cret"
            })
        );
    }

    #[test]
    fn substitution_is_one_pass_and_leaves_non_placeholders_alone() {
        let params = json!({"a": "[[ b ]]", "b": "never"});
        let out = run(
            json!([
                "[[ a ]]",
                "x [[ a ]]",
                "[[ Not-A-Name ]]",
                "[[[ b ]]]",
                "[[ b"
            ]),
            params,
        )
        .unwrap();
        assert_eq!(
            out,
            json!([
                "[[ b ]]",
                "x [[ b ]]",
                "[[ Not-A-Name ]]",
                "[never]",
                "[[ b"
            ])
        );
    }

    #[test]
    fn an_unbound_placeholder_is_an_error() {
        assert_eq!(
            run(json!({"a": "x [[ missing ]]"}), json!({})),
            Err(UnboundPlaceholder("missing".into()))
        );
    }

    #[test]
    fn scan_reports_names_typos_and_keys() {
        let found = scan(
            &json!({"nodes": [{"url": "[[ crm_url ]]/x?k=[[ key ]]", "bad": "[[ crm-url ]]"}],
                    "[[ k ]]": 1}),
            "flow_definition",
        );
        let names: Vec<_> = found.iter().filter_map(|f| f.name.clone()).collect();
        assert_eq!(names, ["crm_url", "key"]);
        let mut problems: Vec<_> = found
            .iter()
            .filter(|f| f.problem.is_some())
            .map(|f| f.path.as_str())
            .collect();
        problems.sort_unstable();
        assert_eq!(
            problems,
            ["flow_definition.[[ k ]]", "flow_definition.nodes[0].bad"]
        );
    }

    #[test]
    fn parameter_names() {
        for ok in ["a", "crm_url", "x2", "max_attempts"] {
            assert!(is_param_name(ok), "{ok}");
        }
        for bad in ["", "A", "2x", "_x", "crm-url", "crm url", &"a".repeat(65)] {
            assert!(!is_param_name(bad), "{bad}");
        }
    }
}
