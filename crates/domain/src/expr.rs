//! The expression sandbox: minijinja over `{trigger, steps}`, with no file or network access and a fuel limit.

use std::sync::LazyLock;

use minijinja::Environment;
use serde_json::Value;

use crate::graph::GraphFault;
use crate::path;

/// Instructions one render or evaluation may execute; stops runaway loops.
const FUEL: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    #[error("invalid expression in {path}: {message}")]
    Syntax { path: String, message: String },
    #[error("expression failed in {path}: {message}")]
    Eval { path: String, message: String },
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    // Output is JSON or plain text, never HTML: no auto-escaping.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
});

/// Renders every templated string in `config` against `ctx`.
///
/// A string that is exactly one `{{ expr }}` yields the expression's own JSON type; any other
/// string holding `{{` or `{%` renders to a string; everything else, object keys included,
/// passes through.
pub fn render_value(config: &Value, ctx: &Value) -> Result<Value, ExprError> {
    let ctx = minijinja::Value::from_serialize(ctx);
    render_at(config, &ctx, "")
}

/// Evaluates a condition, bare (`a == 1`) or wrapped (`{{ a == 1 }}`), to its truthiness.
/// Undefined is false.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, ExprError> {
    let source = single_expression(expr).unwrap_or(expr);
    let path = "condition";
    let compiled = ENV
        .compile_expression(source)
        .map_err(|e| syntax(path, &e))?;
    let value = compiled
        .eval(minijinja::Value::from_serialize(ctx))
        .map_err(|e| eval(path, &e))?;
    Ok(value.is_true())
}

/// Reports every templated string in `config` that does not parse, `path` being where
/// `config` sits (`nodes[1].data.config`).
pub fn check_templates(config: &Value, path: &str) -> Vec<GraphFault> {
    let mut faults = Vec::new();
    walk_strings(config, path, &mut |s, at| {
        if is_templated(s)
            && let Err(message) = parse_template(s)
        {
            faults.push(GraphFault::new(at, message));
        }
    });
    faults
}

/// Checks an expression field (`condition`, `filter`) that may be written bare.
pub(crate) fn check_expression(source: &str, path: &str) -> Option<GraphFault> {
    if is_templated(source) {
        // check_templates covers it
        return None;
    }
    ENV.compile_expression(source)
        .err()
        .map(|e| GraphFault::new(path, describe(&e)))
}

/// Whether a string holds template syntax.
pub fn is_templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn parse_template(s: &str) -> Result<(), String> {
    match single_expression(s) {
        Some(inner) => ENV.compile_expression(inner).map(|_| ()),
        None => ENV.template_from_str(s).map(|_| ()),
    }
    .map_err(|e| describe(&e))
}

/// The inner expression when `s` is exactly one `{{ ... }}` block.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#")
    {
        return None;
    }
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    Some(inner.trim())
}

fn walk_strings(value: &Value, at: &str, f: &mut impl FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(s, at),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, &path::index(at, i), f);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk_strings(v, &path::key(at, k), f);
            }
        }
        _ => {}
    }
}

fn render_at(value: &Value, ctx: &minijinja::Value, at: &str) -> Result<Value, ExprError> {
    match value {
        Value::String(s) if is_templated(s) => render_string(s, ctx, at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_at(item, ctx, &path::index(at, i)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_at(v, ctx, &path::key(at, k))?)))
            .collect::<Result<serde_json::Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn render_string(s: &str, ctx: &minijinja::Value, at: &str) -> Result<Value, ExprError> {
    if let Some(inner) = single_expression(s) {
        let compiled = ENV.compile_expression(inner).map_err(|e| syntax(at, &e))?;
        let value = compiled.eval(ctx).map_err(|e| eval(at, &e))?;
        return to_json(&value, at);
    }
    let template = ENV.template_from_str(s).map_err(|e| syntax(at, &e))?;
    template
        .render(ctx)
        .map(Value::String)
        .map_err(|e| eval(at, &e))
}

fn to_json(value: &minijinja::Value, at: &str) -> Result<Value, ExprError> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value).map_err(|e| ExprError::Eval {
        path: at.to_owned(),
        message: format!("result is not JSON: {e}"),
    })
}

/// A short message: the error kind and its detail, without the template name and line.
fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn syntax(path: &str, e: &minijinja::Error) -> ExprError {
    ExprError::Syntax {
        path: path.to_owned(),
        message: describe(e),
    }
}

fn eval(path: &str, e: &minijinja::Error) -> ExprError {
    ExprError::Eval {
        path: path.to_owned(),
        message: describe(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({
            "trigger": {"type": "webhook.received", "data": {"id": 7, "email": "a@b.c", "tags": ["x", "y"]}},
            "steps": {"lookup": {"output": {"status": 200, "body": {"ok": true}}}}
        })
    }

    #[test]
    fn single_expression_keeps_its_type() {
        let out = render_value(
            &json!({
                "sum": "{{ 1 + 2 }}",
                "data": "{{ trigger.data }}",
                "ok": " {{- steps.lookup.output.status == 200 -}} ",
                "tags": "{{ trigger.data.tags }}",
                "missing": "{{ trigger.nope }}",
                "float": "{{ 1.5 * 2 }}"
            }),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["sum"], json!(3));
        assert_eq!(
            out["data"],
            json!({"id": 7, "email": "a@b.c", "tags": ["x", "y"]})
        );
        assert_eq!(out["ok"], json!(true));
        assert_eq!(out["tags"], json!(["x", "y"]));
        assert_eq!(out["missing"], Value::Null);
        assert_eq!(out["float"], json!(3.0));
    }

    #[test]
    fn mixed_strings_render_to_strings_and_nesting_is_walked() {
        let out = render_value(
            &json!({
                "id": "id-{{ trigger.data.id }}",
                "two": "{{ 1 }}{{ 2 }}",
                "loop": "{% for t in trigger.data.tags %}{{ t }},{% endfor %}",
                "nested": [{"{{ key }}": ["{{ 40 + 2 }}", 5, null, "plain"]}],
                "html": "{{ '<b>' }}!"
            }),
            &ctx(),
        )
        .unwrap();
        assert_eq!(out["id"], json!("id-7"));
        assert_eq!(out["two"], json!("12"));
        assert_eq!(out["loop"], json!("x,y,"));
        assert_eq!(
            out["nested"],
            json!([{"{{ key }}": [42, 5, null, "plain"]}])
        );
        assert_eq!(out["html"], json!("<b>!"));
    }

    #[test]
    fn errors_carry_the_relative_path() {
        let err = render_value(&json!({"values": {"total": "{{ 1 + }}"}}), &ctx()).unwrap_err();
        match err {
            ExprError::Syntax { path, .. } => assert_eq!(path, "values.total"),
            other => panic!("unexpected {other:?}"),
        }
        let err = render_value(
            &json!({"headers": {"Authorization": "x {{ trigger.nope.deeper }}"}}),
            &ctx(),
        )
        .unwrap_err();
        match err {
            ExprError::Eval { path, .. } => assert_eq!(path, "headers.Authorization"),
            other => panic!("unexpected {other:?}"),
        }
        let err = render_value(&json!(["a", ["{{ 'a' - 1 }}"]]), &ctx()).unwrap_err();
        assert!(
            matches!(err, ExprError::Eval { ref path, .. } if path == "[1][0]"),
            "{err:?}"
        );
    }

    #[test]
    fn conditions() {
        assert!(eval_condition("steps.lookup.output.status == 200", &ctx()).unwrap());
        assert!(eval_condition("{{ trigger.data.id > 5 }}", &ctx()).unwrap());
        assert!(!eval_condition("trigger.data.id > 10", &ctx()).unwrap());
        assert!(!eval_condition("trigger.undefined_thing", &ctx()).unwrap());
        assert!(!eval_condition("steps.other", &ctx()).unwrap());
        assert!(eval_condition("'x' in trigger.data.tags", &ctx()).unwrap());
        assert!(matches!(
            eval_condition("a ==", &ctx()),
            Err(ExprError::Syntax { .. })
        ));
    }

    #[test]
    fn fuel_stops_runaway_loops() {
        let huge = render_value(
            &json!("{% for i in range(100000000) %}{{ i }}{% endfor %}"),
            &ctx(),
        );
        assert!(matches!(huge, Err(ExprError::Eval { .. })), "{huge:?}");
        // each range is small, but together they would run 10^8 iterations without fuel
        let nested = render_value(
            &json!(
                "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
            ),
            &ctx(),
        );
        match nested {
            Err(ExprError::Eval { message, .. }) => assert!(message.contains("fuel"), "{message}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn templates_are_checked_with_paths() {
        let faults = check_templates(
            &json!({"values": {"total": "{{ 1 + }}", "ok": "{{ a }} and {% if b %}x{% endif %}"},
                    "list": ["fine", "{% for %}"]}),
            "nodes[1].data.config",
        );
        let mut paths: Vec<_> = faults.iter().map(|f| f.path.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "nodes[1].data.config.list[1]",
                "nodes[1].data.config.values.total"
            ]
        );
        assert!(check_expression("a ==", "c").is_some());
        assert!(check_expression("a == 1", "c").is_none());
    }
}
