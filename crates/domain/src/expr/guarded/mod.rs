//! The sandbox's environment: minijinja's built-in filters, tests and functions, each
//! wrapped so that its cost is charged and what it makes is measured, plus the guarded
//! operators that compiled programs call instead of the VM's own.
//!
//! The environment starts empty: a filter, test or function exists only if it is listed
//! here with its guard, so a built-in cannot slip in unguarded.

mod builtins;
mod charge;
mod checks;
mod operators;

use std::sync::LazyLock;

use minijinja::value::{Rest, Value};
use minijinja::{AutoEscape, Environment, Error, State, functions};

use super::limits::{FUEL, MAX_RECURSION};
use super::meter::{self, limit_error};
use builtins::{FILTERS, TESTS};
use charge::{Cost, charge};
use checks::{Pre, check_pre};
use operators::add_operators;
pub(crate) use operators::op;

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
