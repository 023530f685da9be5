//! The expression sandbox: minijinja over `{trigger, steps}`, with no file or network access,
//! a fuel limit, and bounds on nesting, on the size of every value made and on the work and
//! memory of one render (`limits`).

mod depth;
mod fold;
mod guarded;
pub mod limits;
mod meter;
mod program;

use serde_json::Value;

use crate::fault::GraphFault;
use crate::path;
use program::{CompileError, Program};

#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    #[error("invalid expression in {path}: {message}")]
    Syntax { path: String, message: String },
    #[error("expression failed in {path}: {message}")]
    Eval { path: String, message: String },
}

/// Renders every templated string in `config` against `ctx`.
///
/// A string that is exactly one `{{ expr }}` yields the expression's own JSON type; any other
/// string holding `{{` or `{%` renders to a string; everything else, object keys included,
/// passes through.
pub fn render_value(config: &Value, ctx: &Value) -> Result<Value, ExprError> {
    let ctx = minijinja::Value::from_serialize(ctx);
    let mut rendered = 0;
    render_at(config, &ctx, "", &mut rendered)
}

/// Evaluates a condition, bare (`a == 1`) or wrapped (`{{ a == 1 }}`), to its truthiness.
/// Undefined is false.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, ExprError> {
    let source = single_expression(expr).unwrap_or(expr);
    let path = "condition";
    let ctx = minijinja::Value::from_serialize(ctx);
    Program::with_expression(source, |program| program.eval_bool(&ctx))
        .map_err(|e| syntax(path, e))?
        .map_err(|e| eval(path, &e))
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
    Program::with_expression(source, |_| ())
        .err()
        .map(|e| GraphFault::new(path, compile_message(e)))
}

/// Whether a string holds template syntax.
pub fn is_templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn parse_template(s: &str) -> Result<(), String> {
    match single_expression(s) {
        Some(inner) => Program::with_expression(inner, |_| ()),
        None => Program::template(s).map(|_| ()),
    }
    .map_err(compile_message)
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

/// `rendered` counts the bytes the config's templated strings rendered to so far: each may
/// be as large as a value may be, so many of them could add up to gigabytes.
fn render_at(
    value: &Value,
    ctx: &minijinja::Value,
    at: &str,
    rendered: &mut usize,
) -> Result<Value, ExprError> {
    match value {
        Value::String(s) if is_templated(s) => {
            let (value, size) = render_string(s, ctx, at)?;
            *rendered += size;
            if *rendered > limits::MAX_RENDERED_CONFIG_BYTES {
                return Err(ExprError::Eval {
                    path: at.to_owned(),
                    message: format!(
                        "the rendered config is larger than {} MiB",
                        limits::MAX_RENDERED_CONFIG_BYTES / (1024 * 1024)
                    ),
                });
            }
            Ok(value)
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_at(item, ctx, &path::index(at, i), rendered))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_at(v, ctx, &path::key(at, k), rendered)?)))
            .collect::<Result<serde_json::Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn render_string(s: &str, ctx: &minijinja::Value, at: &str) -> Result<(Value, usize), ExprError> {
    if let Some(inner) = single_expression(s) {
        return Program::with_expression(inner, |program| program.eval_json(ctx))
            .map_err(|e| syntax(at, e))?
            .map_err(|e| eval(at, &e));
    }
    let program = Program::template(s).map_err(|e| syntax(at, e))?;
    program
        .render(ctx)
        .map(|text| {
            let size = text.len();
            (Value::String(text), size)
        })
        .map_err(|e| eval(at, &e))
}

/// A short message: the error kind and its detail, without the template name and line.
fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn compile_message(e: CompileError) -> String {
    match e {
        CompileError::Syntax(e) => describe(&e),
        CompileError::Limit(message) => message,
    }
}

fn syntax(path: &str, e: CompileError) -> ExprError {
    ExprError::Syntax {
        path: path.to_owned(),
        message: compile_message(e),
    }
}

fn eval(path: &str, e: &minijinja::Error) -> ExprError {
    ExprError::Eval {
        path: path.to_owned(),
        message: describe(e),
    }
}

#[cfg(test)]
mod tests;
