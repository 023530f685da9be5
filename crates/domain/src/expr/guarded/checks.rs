//! What is checked before a callable whose output can outgrow its input runs: the
//! result's size is bounded from the arguments, before anything is built.

use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use crate::expr::limits::MAX_VALUE_BYTES;
use crate::expr::meter::{self, limit_error, too_large};

/// What is checked before a callable runs, for those whose output can outgrow their input.
#[derive(Clone, Copy)]
pub(super) enum Pre {
    None,
    /// Numeric arguments are counts or widths of what it builds.
    Counts,
    Replace,
    Join,
    Format,
    Indent,
}

pub(super) fn check_pre(args: &[Value], pre: Pre) -> Result<(), Error> {
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
