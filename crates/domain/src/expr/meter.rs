//! What one render may spend: bytes produced, work done, and the size of every value made.
//!
//! A render runs synchronously on one thread, so its meter lives in a thread-local that
//! `Metered::start` installs and drops with the render.

use std::cell::RefCell;
use std::fmt::{self, Write};

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use serde_json::Value as Json;

use super::limits::{MAX_VALUE_BYTES, MAX_VALUE_DEPTH, RENDER_BYTES_BUDGET, RENDER_WORK_BUDGET};

#[derive(Default)]
struct Meter {
    bytes: usize,
    work: u64,
    output: usize,
}

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// The meter of the render running on this thread, removed when dropped.
pub(crate) struct Metered(());

impl Metered {
    pub(crate) fn start() -> Self {
        METER.with(|m| *m.borrow_mut() = Some(Meter::default()));
        Metered(())
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        METER.with(|m| *m.borrow_mut() = None);
    }
}

pub(crate) fn limit_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn with_meter<T>(f: impl FnOnce(&mut Meter) -> Result<T, Error>) -> Result<T, Error> {
    METER.with(|m| match m.borrow_mut().as_mut() {
        Some(meter) => f(meter),
        // a guarded function called outside a render (never by echoflow): no budget to keep
        None => f(&mut Meter::default()),
    })
}

/// Charges `units` of work to the render.
pub(crate) fn spend_work(units: u64) -> Result<(), Error> {
    with_meter(|m| {
        m.work = m.work.saturating_add(units);
        if m.work > RENDER_WORK_BUDGET {
            return Err(limit_error(format!(
                "expression does too much work (budget of {RENDER_WORK_BUDGET} units per render)"
            )));
        }
        Ok(())
    })
}

/// Charges `bytes` produced by an operation to the render.
pub(crate) fn spend_bytes(bytes: usize) -> Result<(), Error> {
    with_meter(|m| {
        m.bytes = m.bytes.saturating_add(bytes);
        if m.bytes > RENDER_BYTES_BUDGET {
            return Err(limit_error(format!(
                "expression produces too much data (more than {} MiB per render)",
                RENDER_BYTES_BUDGET / (1024 * 1024)
            )));
        }
        Ok(())
    })
}

/// Adds `bytes` to the render's output, which may not exceed `MAX_VALUE_BYTES`.
pub(crate) fn spend_output(bytes: usize) -> Result<(), Error> {
    with_meter(|m| {
        m.output = m.output.saturating_add(bytes);
        if m.output > MAX_VALUE_BYTES {
            return Err(too_large("rendered text"));
        }
        Ok(())
    })
}

pub(crate) fn too_large(what: &str) -> Error {
    limit_error(format!(
        "{what} is larger than {} KiB",
        MAX_VALUE_BYTES / 1024
    ))
}

/// The size of `value` as JSON text, and how deeply it nests; `None` past `limit` bytes or
/// `MAX_VALUE_DEPTH` levels. Visits at most about `limit` values, each charged as work.
pub(crate) fn measure(value: &Value, limit: usize) -> Result<Option<usize>, Error> {
    let mut visited = 0u64;
    let size = measure_at(value, limit, 0, &mut visited);
    spend_work(visited)?;
    Ok(size)
}

fn measure_at(value: &Value, limit: usize, depth: usize, visited: &mut u64) -> Option<usize> {
    *visited += 1;
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    let size = match value.kind() {
        ValueKind::String => value.as_str().map_or(0, str::len) + 2,
        ValueKind::Bytes => value.as_bytes().map_or(0, <[u8]>::len),
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            let is_map = value.kind() == ValueKind::Map;
            let mut size = 2;
            for item in value.try_iter().ok()? {
                size += 1 + measure_at(&item, limit.checked_sub(size)?, depth + 1, visited)?;
                if is_map {
                    let entry = value.get_item(&item).unwrap_or_default();
                    size += 1 + measure_at(&entry, limit.checked_sub(size)?, depth + 1, visited)?;
                }
                if size > limit {
                    return None;
                }
            }
            size
        }
        _ => 8,
    };
    (size <= limit).then_some(size)
}

/// Refuses a value an operation produced when it is larger or deeper than a value may be,
/// and charges its size to the render.
pub(crate) fn admit(value: &Value) -> Result<(), Error> {
    match value.kind() {
        ValueKind::String => {
            let len = value.as_str().map_or(0, str::len);
            if len > MAX_VALUE_BYTES {
                return Err(too_large("a string"));
            }
            spend_bytes(len)
        }
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => {
            match measure(value, MAX_VALUE_BYTES)? {
                Some(_) => spend_bytes(value.len().unwrap_or(0).saturating_mul(16)),
                None => Err(limit_error(format!(
                    "a list or map is larger than {} KiB or nests deeper than {MAX_VALUE_DEPTH} levels",
                    MAX_VALUE_BYTES / 1024
                ))),
            }
        }
        _ => Ok(()),
    }
}

/// A `fmt::Write` that fails once more than `limit` bytes were written to it.
pub(crate) struct Bounded {
    pub(crate) text: String,
    limit: usize,
}

impl Bounded {
    pub(crate) fn new(limit: usize) -> Self {
        Bounded {
            text: String::new(),
            limit,
        }
    }
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.text.len() + s.len() > self.limit {
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// `value` as text, refused past `MAX_VALUE_BYTES` without writing more than that.
pub(crate) fn display(value: &Value) -> Result<String, Error> {
    if let Some(s) = value.as_str() {
        if s.len() > MAX_VALUE_BYTES {
            return Err(too_large("a string"));
        }
        return Ok(s.to_owned());
    }
    let mut out = Bounded::new(MAX_VALUE_BYTES);
    write!(out, "{value}").map_err(|_| too_large("a value written as text"))?;
    spend_work(out.text.len() as u64)?;
    Ok(out.text)
}

/// The JSON of a render's result and its size as JSON text, within `MAX_VALUE_BYTES` and
/// `MAX_VALUE_DEPTH`.
pub(crate) fn to_json(value: &Value) -> Result<(Json, usize), Error> {
    if value.is_undefined() {
        return Ok((Json::Null, 4));
    }
    let Some(size) = measure(value, MAX_VALUE_BYTES)? else {
        return Err(limit_error(format!(
            "the result is larger than {} KiB or nests deeper than {MAX_VALUE_DEPTH} levels",
            MAX_VALUE_BYTES / 1024
        )));
    };
    serde_json::to_value(value)
        .map(|json| (json, size))
        .map_err(|e| limit_error(format!("result is not JSON: {e}")))
}
