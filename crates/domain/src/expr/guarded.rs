//! The sandbox's environment: minijinja's built-in filters, tests and functions, each
//! wrapped so that its cost is charged and what it makes is measured, plus the guarded
//! operators that compiled programs call instead of the VM's own.
//!
//! The environment starts empty: a filter, test or function exists only if it is listed
//! here with its guard, so a built-in cannot slip in unguarded.

use std::sync::LazyLock;

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Expression, State, filters, functions, tests,
};

use super::limits::{FUEL, MAX_RECURSION, MAX_VALUE_BYTES, MAX_VALUE_DEPTH};
use super::meter::{self, limit_error, too_large};

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

/// A built-in filter: its name, the function, how it is charged and checked.
type FilterEntry = (&'static str, fn() -> Value, Cost, Pre);

const FILTERS: &[FilterEntry] = &[
    (
        "safe",
        || Value::from_function(filters::safe),
        Cost::Deep,
        Pre::None,
    ),
    (
        "escape",
        || Value::from_function(filters::escape),
        Cost::Deep,
        Pre::None,
    ),
    (
        "e",
        || Value::from_function(filters::escape),
        Cost::Deep,
        Pre::None,
    ),
    (
        "lower",
        || Value::from_function(filters::lower),
        Cost::Deep,
        Pre::None,
    ),
    (
        "upper",
        || Value::from_function(filters::upper),
        Cost::Deep,
        Pre::None,
    ),
    (
        "title",
        || Value::from_function(filters::title),
        Cost::Deep,
        Pre::None,
    ),
    (
        "capitalize",
        || Value::from_function(filters::capitalize),
        Cost::Deep,
        Pre::None,
    ),
    (
        "replace",
        || Value::from_function(filters::replace),
        Cost::Deep,
        Pre::Replace,
    ),
    (
        "length",
        || Value::from_function(filters::length),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "count",
        || Value::from_function(filters::length),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "dictsort",
        || Value::from_function(filters::dictsort),
        Cost::Deep,
        Pre::None,
    ),
    (
        "items",
        || Value::from_function(filters::items),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "reverse",
        || Value::from_function(filters::reverse),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "trim",
        || Value::from_function(filters::trim),
        Cost::Deep,
        Pre::None,
    ),
    (
        "join",
        || Value::from_function(filters::join),
        Cost::Deep,
        Pre::Join,
    ),
    (
        "split",
        || Value::from_function(filters::split),
        Cost::Deep,
        Pre::None,
    ),
    (
        "lines",
        || Value::from_function(filters::lines),
        Cost::Deep,
        Pre::None,
    ),
    (
        "default",
        || Value::from_function(filters::default),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "d",
        || Value::from_function(filters::default),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "round",
        || Value::from_function(filters::round),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "abs",
        || Value::from_function(filters::abs),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "int",
        || Value::from_function(filters::int),
        Cost::Deep,
        Pre::None,
    ),
    (
        "float",
        || Value::from_function(filters::float),
        Cost::Deep,
        Pre::None,
    ),
    (
        "attr",
        || Value::from_function(filters::attr),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "first",
        || Value::from_function(filters::first),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "last",
        || Value::from_function(filters::last),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "min",
        || Value::from_function(filters::min),
        Cost::Chars,
        Pre::None,
    ),
    (
        "max",
        || Value::from_function(filters::max),
        Cost::Chars,
        Pre::None,
    ),
    (
        "sort",
        || Value::from_function(filters::sort),
        Cost::Chars,
        Pre::None,
    ),
    (
        "list",
        || Value::from_function(filters::list),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "string",
        || Value::from_function(filters::string),
        Cost::Deep,
        Pre::None,
    ),
    (
        "bool",
        || Value::from_function(filters::bool),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "batch",
        || Value::from_function(filters::batch),
        Cost::Shallow,
        Pre::Counts,
    ),
    (
        "slice",
        || Value::from_function(filters::slice),
        Cost::Shallow,
        Pre::Counts,
    ),
    (
        "sum",
        || Value::from_function(filters::sum),
        Cost::Deep,
        Pre::None,
    ),
    (
        "indent",
        || Value::from_function(filters::indent),
        Cost::Deep,
        Pre::Indent,
    ),
    (
        "select",
        || Value::from_function(filters::select),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "reject",
        || Value::from_function(filters::reject),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "selectattr",
        || Value::from_function(filters::selectattr),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "rejectattr",
        || Value::from_function(filters::rejectattr),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "map",
        || Value::from_function(filters::map),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "groupby",
        || Value::from_function(filters::groupby),
        Cost::Chars,
        Pre::None,
    ),
    (
        "unique",
        || Value::from_function(filters::unique),
        Cost::Chars,
        Pre::None,
    ),
    (
        "chain",
        || Value::from_function(filters::chain),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "zip",
        || Value::from_function(filters::zip),
        Cost::Shallow,
        Pre::None,
    ),
    (
        "format",
        || Value::from_function(filters::format),
        Cost::Deep,
        Pre::Format,
    ),
    (
        "tojson",
        || Value::from_function(filters::tojson),
        Cost::Deep,
        Pre::None,
    ),
];

/// A built-in test: its name, the function and how it is charged.
type TestEntry = (&'static str, fn() -> Value, Cost);

const TESTS: &[TestEntry] = &[
    (
        "undefined",
        || Value::from_function(tests::is_undefined),
        Cost::Shallow,
    ),
    (
        "defined",
        || Value::from_function(tests::is_defined),
        Cost::Shallow,
    ),
    (
        "none",
        || Value::from_function(tests::is_none),
        Cost::Shallow,
    ),
    (
        "safe",
        || Value::from_function(tests::is_safe),
        Cost::Shallow,
    ),
    (
        "escaped",
        || Value::from_function(tests::is_safe),
        Cost::Shallow,
    ),
    (
        "boolean",
        || Value::from_function(tests::is_boolean),
        Cost::Shallow,
    ),
    ("odd", || Value::from_function(tests::is_odd), Cost::Shallow),
    (
        "even",
        || Value::from_function(tests::is_even),
        Cost::Shallow,
    ),
    (
        "divisibleby",
        || Value::from_function(is_divisibleby),
        Cost::Shallow,
    ),
    (
        "number",
        || Value::from_function(tests::is_number),
        Cost::Shallow,
    ),
    (
        "integer",
        || Value::from_function(tests::is_integer),
        Cost::Shallow,
    ),
    (
        "int",
        || Value::from_function(tests::is_integer),
        Cost::Shallow,
    ),
    (
        "float",
        || Value::from_function(tests::is_float),
        Cost::Shallow,
    ),
    (
        "string",
        || Value::from_function(tests::is_string),
        Cost::Shallow,
    ),
    (
        "sequence",
        || Value::from_function(tests::is_sequence),
        Cost::Shallow,
    ),
    (
        "iterable",
        || Value::from_function(tests::is_iterable),
        Cost::Shallow,
    ),
    (
        "mapping",
        || Value::from_function(tests::is_mapping),
        Cost::Shallow,
    ),
    (
        "startingwith",
        || Value::from_function(tests::is_startingwith),
        Cost::Deep,
    ),
    (
        "endingwith",
        || Value::from_function(tests::is_endingwith),
        Cost::Deep,
    ),
    (
        "lower",
        || Value::from_function(tests::is_lower),
        Cost::Deep,
    ),
    (
        "upper",
        || Value::from_function(tests::is_upper),
        Cost::Deep,
    ),
    (
        "sameas",
        || Value::from_function(tests::is_sameas),
        Cost::Shallow,
    ),
    ("eq", || Value::from_function(tests::is_eq), Cost::Deep),
    ("equalto", || Value::from_function(tests::is_eq), Cost::Deep),
    ("==", || Value::from_function(tests::is_eq), Cost::Deep),
    ("ne", || Value::from_function(tests::is_ne), Cost::Deep),
    ("!=", || Value::from_function(tests::is_ne), Cost::Deep),
    ("lt", || Value::from_function(tests::is_lt), Cost::Deep),
    (
        "lessthan",
        || Value::from_function(tests::is_lt),
        Cost::Deep,
    ),
    ("<", || Value::from_function(tests::is_lt), Cost::Deep),
    ("le", || Value::from_function(tests::is_le), Cost::Deep),
    ("<=", || Value::from_function(tests::is_le), Cost::Deep),
    ("gt", || Value::from_function(tests::is_gt), Cost::Deep),
    (
        "greaterthan",
        || Value::from_function(tests::is_gt),
        Cost::Deep,
    ),
    (">", || Value::from_function(tests::is_gt), Cost::Deep),
    ("ge", || Value::from_function(tests::is_ge), Cost::Deep),
    (">=", || Value::from_function(tests::is_ge), Cost::Deep),
    ("in", || Value::from_function(tests::is_in), Cost::Deep),
    (
        "true",
        || Value::from_function(tests::is_true),
        Cost::Shallow,
    ),
    (
        "false",
        || Value::from_function(tests::is_false),
        Cost::Shallow,
    ),
    (
        "filter",
        || Value::from_function(tests::is_filter),
        Cost::Shallow,
    ),
    (
        "test",
        || Value::from_function(tests::is_test),
        Cost::Shallow,
    ),
];

/// minijinja's `divisibleby` computes `a % b` on integers unchecked: `3 is divisibleby 0`
/// and `i128::MIN is divisibleby -1` panic, in release builds too.
fn is_divisibleby(v: &Value, other: &Value) -> bool {
    if let (Ok(a), Ok(b)) = (i128::try_from(v.clone()), i128::try_from(other.clone()))
        && v.is_integer()
        && other.is_integer()
    {
        return a.checked_rem(b) == Some(0);
    }
    tests::is_divisibleby(v, other)
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

/// The type name of minijinja's namespace object, the only one `{% set x.a %}` writes into.
static NAMESPACE_TYPE: LazyLock<Option<&'static str>> = LazyLock::new(|| {
    functions::namespace(None)
        .ok()
        .and_then(|ns| ns.as_object().map(|o| o.type_name()))
});

/// Whether `value` is or holds a namespace; `value` was measured, so the walk is bounded.
fn holds_namespace(value: &Value) -> bool {
    if let Some(object) = value.as_object()
        && Some(object.type_name()) == *NAMESPACE_TYPE
    {
        return true;
    }
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            let is_map = value.kind() == ValueKind::Map;
            value.try_iter().is_ok_and(|mut items| {
                items.any(|item| {
                    holds_namespace(&item)
                        || (is_map && holds_namespace(&value.get_item(&item).unwrap_or_default()))
                })
            })
        }
        _ => false,
    }
}

fn check_pre(args: &[Value], pre: Pre) -> Result<(), Error> {
    match pre {
        Pre::None => Ok(()),
        Pre::Counts => check_counts(args),
        Pre::Replace => check_replace(args),
        Pre::Join => check_join(args),
        Pre::Format => check_format(args),
        Pre::Indent => {
            check_counts(args)?;
            check_indent(args)
        }
    }
}

/// Every number given to a filter that builds that many items or that wide a text.
fn check_counts(args: &[Value]) -> Result<(), Error> {
    let mut numbers = Vec::new();
    for arg in args.iter().skip(1) {
        if arg.is_kwargs() {
            for key in arg.try_iter()? {
                numbers.push(arg.get_item(&key)?);
            }
        } else {
            numbers.push(arg.clone());
        }
    }
    for n in numbers.iter().filter(|n| n.kind() == ValueKind::Number) {
        if i128::try_from(n.clone()).is_ok_and(|n| n.unsigned_abs() > MAX_VALUE_BYTES as u128) {
            return Err(limit_error(format!(
                "a count or width above {MAX_VALUE_BYTES} is not allowed"
            )));
        }
    }
    Ok(())
}

/// `replace` can multiply its input: the result's length is known before it is built.
fn check_replace(args: &[Value]) -> Result<(), Error> {
    let [value, from, to, ..] = args else {
        return Ok(());
    };
    let (value, from, to) = (
        meter::display(value)?,
        meter::display(from)?,
        meter::display(to)?,
    );
    let occurrences = if from.is_empty() {
        value.chars().count() + 1
    } else {
        value.matches(from.as_str()).count()
    };
    let grown = occurrences.saturating_mul(to.len());
    if value.len().saturating_add(grown) > MAX_VALUE_BYTES {
        return Err(too_large("the result of replace"));
    }
    Ok(())
}

/// `join` writes the separator once per item.
fn check_join(args: &[Value]) -> Result<(), Error> {
    let Some(items) = args.first() else {
        return Ok(());
    };
    let separator = match args.get(1) {
        Some(sep) if !sep.is_kwargs() => meter::display(sep)?.len(),
        _ => 0,
    };
    let count = items.len().unwrap_or(0);
    if count.saturating_mul(separator) > MAX_VALUE_BYTES {
        return Err(too_large("the result of join"));
    }
    Ok(())
}

/// printf-style widths and precisions build padding before anything is measured. They are
/// bounded together, not one by one: `'%900000s' * 300` holds 300 widths each under the
/// limit that together padded 270 MB.
fn check_format(args: &[Value]) -> Result<(), Error> {
    let Some(spec) = args.first().and_then(Value::as_str) else {
        return Ok(());
    };
    let mut total = 0usize;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        // minijinja's printf parser walks a conversion byte by byte and panics inside a
        // multi-byte character (found by fuzzing: `'%(Ɯ)s'|format(x)`), so a conversion's
        // mapping key and type must be ASCII
        if chars.peek() == Some(&'(') {
            for key_char in chars.by_ref() {
                if !key_char.is_ascii() {
                    return Err(limit_error(NON_ASCII_CONVERSION));
                }
                if key_char == ')' {
                    break;
                }
            }
        }
        let mut number = 0usize;
        while let Some(&next) = chars.peek() {
            match next {
                '0'..='9' => {
                    number = number
                        .saturating_mul(10)
                        .saturating_add(next as usize - '0' as usize);
                }
                '*' => {
                    return Err(limit_error(
                        "format widths taken from arguments (`*`) are not allowed",
                    ));
                }
                '-' | '+' | ' ' | '#' | '.' => {
                    total = total.saturating_add(number);
                    number = 0;
                }
                _ => break,
            }
            if total.saturating_add(number) > MAX_VALUE_BYTES {
                return Err(too_large("the format widths and precisions together"));
            }
            chars.next();
        }
        total = total.saturating_add(number);
        if chars
            .next()
            .is_some_and(|conversion| !conversion.is_ascii())
        {
            return Err(limit_error(NON_ASCII_CONVERSION));
        }
    }
    Ok(())
}

const NON_ASCII_CONVERSION: &str = "a format conversion (`%(key)s`, `%s`) must be written in ASCII";

/// `indent` writes its width once per line: 1,000 lines indented by 1,000,000 is 1 GB.
fn check_indent(args: &[Value]) -> Result<(), Error> {
    let Some(value) = args.first() else {
        return Ok(());
    };
    let width = match args.get(1) {
        Some(width) if !width.is_kwargs() => width.clone(),
        _ => args
            .iter()
            .find(|arg| arg.is_kwargs())
            .and_then(|kwargs| kwargs.get_item(&Value::from("width")).ok())
            .unwrap_or_default(),
    };
    let width = usize::try_from(width).unwrap_or(4);
    let text = meter::display(value)?;
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    if text.len().saturating_add(width.saturating_mul(lines)) > MAX_VALUE_BYTES {
        return Err(too_large("the result of indent"));
    }
    Ok(())
}

/// The VM's own operators, evaluated by a plain environment once the operands were checked:
/// their semantics stay minijinja's.
static PLAIN_ENV: LazyLock<Environment<'static>> = LazyLock::new(Environment::empty);

/// An operator as a compiled expression over `a`, `b`, `c`, `d`.
struct PlainOp {
    source: &'static str,
    compiled: LazyLock<Result<Expression<'static, 'static>, Error>>,
}

macro_rules! plain_op {
    ($source:literal) => {
        PlainOp {
            source: $source,
            compiled: LazyLock::new(|| PLAIN_ENV.compile_expression($source)),
        }
    };
}

static PLAIN_ADD: PlainOp = plain_op!("a + b");
static PLAIN_MUL: PlainOp = plain_op!("a * b");
static PLAIN_IN: PlainOp = plain_op!("a in b");
static PLAIN_SLICE: PlainOp = plain_op!("a[b:c:d]");
static PLAIN_ITEM: PlainOp = plain_op!("a[b]");

impl PlainOp {
    fn eval(&self, args: &[Value]) -> Result<Value, Error> {
        let expr = self.compiled.as_ref().map_err(|e| {
            Error::new(ErrorKind::InvalidOperation, format!("{}: {e}", self.source))
        })?;
        let ctx: Value = ["a", "b", "c", "d"]
            .into_iter()
            .zip(args.iter().cloned())
            .collect();
        expr.eval(ctx)
    }
}

fn binary(args: &[Value]) -> Result<(&Value, &Value), Error> {
    match args {
        [a, b] => Ok((a, b)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            "operator needs two operands",
        )),
    }
}

/// The size an operand adds when combined: a string's length, a list's measured size.
fn operand_size(value: &Value) -> Result<usize, Error> {
    if let Some(s) = value.as_str() {
        return Ok(s.len());
    }
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            meter::measure(value, MAX_VALUE_BYTES)?.ok_or_else(|| too_large("an operand"))
        }
        _ => Ok(8),
    }
}

fn admitted(value: Value) -> Result<Value, Error> {
    meter::admit(&value)?;
    Ok(value)
}

fn add_operators(env: &mut Environment<'static>) {
    env.add_filter(op::ADD, |args: Rest<Value>| {
        let (a, b) = binary(&args)?;
        if operand_size(a)?.saturating_add(operand_size(b)?) > MAX_VALUE_BYTES {
            return Err(too_large("the result of +"));
        }
        admitted(PLAIN_ADD.eval(&args)?)
    });
    env.add_filter(op::MUL, |args: Rest<Value>| {
        let (a, b) = binary(&args)?;
        let times = |n: &Value| i128::try_from(n.clone()).ok().map(i128::unsigned_abs);
        let grown = match (a.kind(), b.kind()) {
            (ValueKind::Number, ValueKind::Number) => None,
            (ValueKind::Number, _) => times(a).map(|n| (n, operand_size(b))),
            (_, ValueKind::Number) => times(b).map(|n| (n, operand_size(a))),
            _ => None,
        };
        if let Some((n, size)) = grown
            && n.saturating_mul(size? as u128) > MAX_VALUE_BYTES as u128
        {
            return Err(too_large("the result of *"));
        }
        admitted(PLAIN_MUL.eval(&args)?)
    });
    env.add_filter(op::CONCAT, |args: Rest<Value>| {
        let (a, b) = binary(&args)?;
        let mut text = meter::display(a)?;
        text.push_str(&meter::display(b)?);
        admitted(Value::from(text))
    });
    env.add_filter(op::IN, |args: Rest<Value>| {
        charge(&args, Cost::Deep)?;
        PLAIN_IN.eval(&args)
    });
    env.add_filter(op::SLICE, |args: Rest<Value>| {
        charge(&args[..1.min(args.len())], Cost::Shallow)?;
        // minijinja negates a negative step: i64::MIN overflows (a panic in checked builds)
        if args
            .get(3)
            .and_then(|step| i64::try_from(step.clone()).ok())
            .is_some_and(|step| step == i64::MIN)
        {
            return Err(limit_error("a slice step must be above -2^63"));
        }
        admitted(PLAIN_SLICE.eval(&args)?)
    });
    env.add_filter(op::CHARGE, |value: Value| {
        charge(std::slice::from_ref(&value), Cost::Deep)?;
        Ok(value)
    });
    env.add_filter(op::STORABLE, |value: Value| {
        // measured first: a cycle or a value too large is refused before it is walked
        if meter::measure(&value, MAX_DEEP_BYTES)?.is_none() {
            return Err(too_deep_or_large());
        }
        if holds_namespace(&value) {
            return Err(limit_error(
                "a namespace cannot be set into a namespace: copy the values it holds",
            ));
        }
        Ok(value)
    });
    env.add_filter(op::ITEM, |args: Rest<Value>| {
        // `s[i]` walks the string's chars up to `i` (to its end for a negative `i`): 5,000
        // lookups at the end of a 1 MB string took two minutes, uncharged
        if let Some(s) = args.first().and_then(Value::as_str) {
            meter::spend_work(1 + s.len() as u64 / 8)?;
        }
        PLAIN_ITEM.eval(&args)
    });
    env.add_filter(op::LIST, |args: Rest<Value>| admitted(Value::from(args.0)));
    env.add_filter(op::MAP, |args: Rest<Value>| {
        let map: Value = args
            .chunks(2)
            .map(|pair| {
                (
                    pair.first().cloned().unwrap_or_default(),
                    pair.get(1).cloned().unwrap_or_default(),
                )
            })
            .collect();
        admitted(map)
    });
    type Compare = fn(&Value, &Value) -> bool;
    let comparisons: [(&str, Compare); 6] = [
        (op::EQ, |a, b| a == b),
        (op::NE, |a, b| a != b),
        (op::LT, |a, b| a < b),
        (op::LTE, |a, b| a <= b),
        (op::GT, |a, b| a > b),
        (op::GTE, |a, b| a >= b),
    ];
    for (name, compare) in comparisons {
        env.add_filter(name, move |args: Rest<Value>| {
            let (a, b) = binary(&args)?;
            charge(&args, Cost::Deep)?;
            Ok(Value::from(compare(a, b)))
        });
    }
}
