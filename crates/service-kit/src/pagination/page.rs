//! Reading `limit` and `offset` from a query string: plain functions over text, with no
//! dependency but serde_urlencoded (what actix's `web::Query` uses), so the fuzz target
//! compiles this file alone (fuzz/fuzz_targets/pagination.rs).

/// Items per page when the caller does not say.
pub const DEFAULT_LIMIT: u64 = 50;
/// Most items per page.
pub const MAX_LIMIT: u64 = 200;
/// Deepest offset: far beyond any real list, and well inside SQL's signed
/// 64-bit `OFFSET` (2^63 and above made sqlx panic).
pub const MAX_OFFSET: u64 = 1_000_000;

/// Why a query string was refused: the field at fault (`None`: the query as a whole) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFault {
    pub field: Option<&'static str>,
    pub message: String,
}

/// `(limit, offset)` from a raw query string; a value that is not a whole number in range,
/// or is given twice, is refused naming it. Any other parameter is left to the route.
pub fn limit_and_offset(query: &str) -> Result<(u64, u64), QueryFault> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|e| QueryFault {
            field: None,
            message: format!("invalid query string: {e}"),
        })?;
    let (mut limit, mut offset) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => set_once(&mut limit, "limit", parse("limit", &value, 1, MAX_LIMIT)?)?,
            "offset" => set_once(
                &mut offset,
                "offset",
                parse("offset", &value, 0, MAX_OFFSET)?,
            )?,
            _ => {}
        }
    }
    Ok((limit.unwrap_or(DEFAULT_LIMIT), offset.unwrap_or(0)))
}

fn parse(field: &'static str, value: &str, min: u64, max: u64) -> Result<u64, QueryFault> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| QueryFault {
            field: Some(field),
            message: format!("must be a whole number from {min} to {max}"),
        })
}

fn set_once(slot: &mut Option<u64>, field: &'static str, value: u64) -> Result<(), QueryFault> {
    if slot.replace(value).is_some() {
        return Err(QueryFault {
            field: Some(field),
            message: "must be given once".into(),
        });
    }
    Ok(())
}
