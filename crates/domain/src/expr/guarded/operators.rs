//! The guarded operators that compiled programs call instead of the VM's own: each
//! checks or charges its operands, then evaluates minijinja's operator.

use std::sync::LazyLock;

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Expression, functions};

use super::charge::{Cost, MAX_DEEP_BYTES, charge, too_deep_or_large};
use crate::expr::limits::MAX_VALUE_BYTES;
use crate::expr::meter::{self, limit_error, too_large};

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

pub(super) fn add_operators(env: &mut Environment<'static>) {
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
