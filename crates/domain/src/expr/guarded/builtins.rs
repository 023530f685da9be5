//! The built-in filters and tests the sandbox offers, each with how it is charged and
//! what is checked before it runs: a table, one entry per callable.

use minijinja::value::Value;
use minijinja::{filters, tests};

use super::charge::Cost;
use super::checks::Pre;

/// A built-in filter: its name, the function, how it is charged and checked.
pub(super) type FilterEntry = (&'static str, fn() -> Value, Cost, Pre);

pub(super) const FILTERS: &[FilterEntry] = &[
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
pub(super) type TestEntry = (&'static str, fn() -> Value, Cost);

pub(super) const TESTS: &[TestEntry] = &[
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
