//! The sandbox's environment: minijinja's built-in filters, tests and functions, each
//! wrapped so that its cost is charged and what it makes is measured, plus the guarded
//! operators that compiled programs call instead of the VM's own.
//!
//! The environment starts empty: a filter, test or function exists only if it is listed
//! here with its guard, so a built-in cannot slip in unguarded.

mod builtins;
mod checks;
mod operators;

use std::sync::LazyLock;

use minijinja::value::{Rest, Value};
use minijinja::{AutoEscape, Environment, Error, State, functions};

use super::limits::{FUEL, MAX_RECURSION, MAX_VALUE_BYTES, MAX_VALUE_DEPTH};
use super::meter::{self, limit_error};
use builtins::{FILTERS, TESTS};
use checks::check_pre;
use operators::add_operators;

/// How a callable's arguments are charged before it runs.
#[derive(Clone, Copy)]
enum Cost {
    /// Looks at the top level only: charged by the arguments' lengths.
    Shallow,
    /// Walks, compares or writes out whole values: charged by their full size.
    Deep,
    /// As `Deep`, and a string is walked char by char into values (`min`, `unique`,
    /// `sort` of a string), about ten times the cost of scanning it: charged per byte.
    Chars,
}

/// What is checked before a callable runs, for those whose output can outgrow their input.
#[derive(Clone, Copy)]
enum Pre {
    None,
    /// Numeric arguments are counts or widths of what it builds.
    Counts,
    Replace,
    Join,
    Format,
    Indent,
}

/// The guarded operators: `program` rewrites the VM's instructions to call these filters.
/// Their names cannot be written as filters in a template.
pub(crate) mod op {
    pub(crate) const ADD: &str = "op:+";
    pub(crate) const MUL: &str = "op:*";
    pub(crate) const CONCAT: &str = "op:~";
    pub(crate) const IN: &str = "op:in";
    pub(crate) const SLICE: &str = "op:[:]";
    pub(crate) const ITEM: &str = "op:[]get";
    pub(crate) const LIST: &str = "op:[]";
    pub(crate) const MAP: &str = "op:{}";
    pub(crate) const EQ: &str = "op:==";
    pub(crate) const NE: &str = "op:!=";
    pub(crate) const LT: &str = "op:<";
    pub(crate) const LTE: &str = "op:<=";
    pub(crate) const GT: &str = "op:>";
    pub(crate) const GTE: &str = "op:>=";
    /// Charges its operand's full size and passes it on (operands of chained comparisons).
    pub(crate) const CHARGE: &str = "op:charge";
    /// Passes on a value that may be set into a namespace (`{% set ns.a = value %}`).
    pub(crate) const STORABLE: &str = "op:storable";
}

/// The environment every program runs in.
pub(crate) static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::empty();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(MAX_RECURSION);
    // Output is JSON or plain text, never HTML: no auto-escaping.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_formatter(|out, _state, value| {
        let text = meter::display(value)?;
        meter::spend_output(text.len())?;
        out.write_str(&text)
            .map_err(|_| limit_error("output could not be written"))
    });
    for &(name, make, cost, pre) in FILTERS {
        let inner = make();
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            guarded_call(state, &inner, &args, cost, pre)
        });
    }
    for &(name, make, cost) in TESTS {
        let inner = make();
        env.add_test(name, move |state: &State, args: Rest<Value>| {
            guarded_call(state, &inner, &args, cost, Pre::None).map(|v| v.is_true())
        });
    }
    for (name, inner) in [
        ("range", Value::from_function(functions::range)),
        ("dict", Value::from_function(functions::dict)),
        ("namespace", Value::from_function(functions::namespace)),
    ] {
        env.add_function(name, move |state: &State, args: Rest<Value>| {
            guarded_call(state, &inner, &args, Cost::Shallow, Pre::None)
        });
    }
    add_operators(&mut env);
    env
});

fn guarded_call(
    state: &State,
    inner: &Value,
    args: &[Value],
    cost: Cost,
    pre: Pre,
) -> Result<Value, Error> {
    charge(args, cost)?;
    check_pre(args, pre)?;
    let produced = inner.call(state, args)?;
    meter::admit(&produced)?;
    Ok(produced)
}

fn charge(args: &[Value], cost: Cost) -> Result<(), Error> {
    for arg in args {
        match (cost, arg.as_str()) {
            (Cost::Chars, Some(s)) => meter::spend_work(1 + s.len() as u64)?,
            (_, Some(s)) => meter::spend_work(1 + s.len() as u64 / 16)?,
            (Cost::Shallow, None) => meter::spend_work(1 + arg.len().unwrap_or(0) as u64)?,
            (Cost::Deep | Cost::Chars, None) => {
                // The walk is charged as it goes. A value too large to measure is refused,
                // not run: a namespace holding the same 1 MiB string under hundreds of names
                // is cheap to build, but writing it out (`tojson`) takes gigabytes.
                if meter::measure(arg, MAX_DEEP_BYTES)?.is_none() {
                    return Err(too_deep_or_large());
                }
            }
        }
    }
    Ok(())
}

/// The largest value a callable that walks whole values (`Cost::Deep`) is given, measured
/// as JSON text: values in the context may be larger than a produced value may be.
const MAX_DEEP_BYTES: usize = 8 * MAX_VALUE_BYTES;

fn too_deep_or_large() -> Error {
    limit_error(format!(
        "a value is larger than {} MiB or nests deeper than {MAX_VALUE_DEPTH} levels",
        MAX_DEEP_BYTES / (1024 * 1024)
    ))
}
