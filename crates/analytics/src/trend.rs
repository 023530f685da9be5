//! From sums to the answer's shapes: hourly cells grouped into the range's buckets.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::figures::Sentiment;
use crate::range::Range;
use crate::rollup::{Cell, Sums};

/// Every bucket of `range` (oldest first, empty ones included) with `metric`'s
/// sums by dimension in it.
pub fn buckets(
    range: &Range,
    sums: &Sums,
    metric: &str,
) -> Vec<(DateTime<Utc>, HashMap<String, Cell>)> {
    let mut grouped: BTreeMap<DateTime<Utc>, HashMap<String, Cell>> = range
        .bucket_starts()
        .into_iter()
        .map(|start| (start, HashMap::new()))
        .collect();
    for (hour, dimension, cell) in sums.hours_of(metric) {
        if let Some(bucket) = grouped.get_mut(&range.bucket.floor(hour)) {
            let sum = bucket.entry(dimension.to_owned()).or_default();
            sum.count += cell.count;
            sum.total += cell.total;
        }
    }
    grouped.into_iter().collect()
}

/// The count of `dimension` in a bucket's sums.
pub fn count(cells: &HashMap<String, Cell>, dimension: &str) -> u64 {
    cells.get(dimension).map_or(0, |c| c.count.max(0) as u64)
}

/// Sentiment from cells keyed by label, each summing its messages' scores.
pub fn sentiment<'a>(cells: impl IntoIterator<Item = (&'a str, Cell)>) -> Sentiment {
    let mut out = Sentiment::default();
    let (mut n, mut total) = (0i64, 0.0);
    for (label, cell) in cells {
        let count = cell.count.max(0) as u64;
        match label {
            "positive" => out.positive += count,
            "neutral" => out.neutral += count,
            "negative" => out.negative += count,
            _ => continue,
        }
        n += cell.count;
        total += cell.total;
    }
    out.average_score = (n > 0).then(|| round(total / n as f64, 4));
    out
}

/// `value` rounded to `digits` decimals (figures are for people, not for sums).
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
