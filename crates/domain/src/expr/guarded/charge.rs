//! How a callable's arguments are charged before it runs: by their lengths, or walked
//! and measured whole, a value too large to measure refused.

use minijinja::{Error, Value};

use crate::expr::limits::{MAX_VALUE_BYTES, MAX_VALUE_DEPTH};
use crate::expr::meter::{self, limit_error};

/// How a callable's arguments are charged before it runs.
#[derive(Clone, Copy)]
pub(super) enum Cost {
    /// Looks at the top level only: charged by the arguments' lengths.
    Shallow,
    /// Walks, compares or writes out whole values: charged by their full size.
    Deep,
    /// As `Deep`, and a string is walked char by char into values (`min`, `unique`,
    /// `sort` of a string), about ten times the cost of scanning it: charged per byte.
    Chars,
}

pub(super) fn charge(args: &[Value], cost: Cost) -> Result<(), Error> {
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
pub(super) const MAX_DEEP_BYTES: usize = 8 * MAX_VALUE_BYTES;

pub(super) fn too_deep_or_large() -> Error {
    limit_error(format!(
        "a value is larger than {} MiB or nests deeper than {MAX_VALUE_DEPTH} levels",
        MAX_DEEP_BYTES / (1024 * 1024)
    ))
}
