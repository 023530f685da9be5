//! The time range of an overview: whole UTC hours, cut into hour or day buckets, and bounded.

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest range an overview covers.
pub const MAX_RANGE_DAYS: i64 = 366;
/// The most buckets one answer holds (an hourly range is at most 41 days long).
pub const MAX_BUCKETS: i64 = 1000;

/// How the trend is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    #[default]
    Day,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    pub fn length(self) -> TimeDelta {
        match self {
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
        }
    }

    /// The start of the bucket holding `at` (UTC hours and days).
    pub fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.length()).unwrap_or(at)
    }

    /// The start of the next bucket, or `at` when a bucket starts there.
    pub fn ceil(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(at);
        if floor == at {
            at
        } else {
            floor + self.length()
        }
    }
}

/// Why a range is refused: the field at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub field: &'static str,
    pub message: String,
}

/// A refused range is a 422 `VALIDATION_ERROR` naming the field, the same from
/// the gateway and from each slice's internal route.
impl From<RangeError> for echoflow_service_kit::ApiError {
    fn from(e: RangeError) -> Self {
        Self::validation(
            format!("{}: {}", e.field, e.message),
            serde_json::json!({"path": e.field, "message": e.message}),
        )
    }
}

/// A checked range: `from` and `to` on whole hours, `from < to`, within the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
}

/// `at` rounded down to its hour.
pub fn floor_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    Bucket::Hour.floor(at)
}

/// `at` rounded up to the next whole hour (unchanged when it is one).
pub fn ceil_hour(at: DateTime<Utc>) -> DateTime<Utc> {
    Bucket::Hour.ceil(at)
}

/// `at` rounded down to its UTC day.
pub fn floor_day(at: DateTime<Utc>) -> DateTime<Utc> {
    Bucket::Day.floor(at)
}

/// `at` rounded up to the next UTC midnight (unchanged when it is one).
pub fn ceil_day(at: DateTime<Utc>) -> DateTime<Utc> {
    Bucket::Day.ceil(at)
}

impl Range {
    /// `from` is rounded down and `to` up to whole hours; the range must then be
    /// non-empty, at most [`MAX_RANGE_DAYS`] long and at most [`MAX_BUCKETS`] buckets.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: Bucket,
    ) -> Result<Range, RangeError> {
        if from >= to {
            return Err(RangeError {
                field: "to",
                message: "must be later than from".into(),
            });
        }
        let (from, to) = (floor_hour(from), ceil_hour(to));
        if to - from > Duration::days(MAX_RANGE_DAYS) {
            return Err(RangeError {
                field: "to",
                message: format!("the range must be at most {MAX_RANGE_DAYS} days long"),
            });
        }
        let range = Range { from, to, bucket };
        let buckets = range.bucket_starts().len() as i64;
        if buckets > MAX_BUCKETS {
            return Err(RangeError {
                field: "bucket",
                message: format!(
                    "the range holds {buckets} {} buckets, more than {MAX_BUCKETS}; choose day or a shorter range",
                    bucket.as_str()
                ),
            });
        }
        Ok(range)
    }

    /// The start of every bucket that overlaps the range, oldest first (bounded by [`MAX_RANGE_DAYS`]).
    pub fn bucket_starts(&self) -> Vec<DateTime<Utc>> {
        let mut starts = Vec::new();
        let mut at = self.bucket.floor(self.from);
        let limit = (MAX_BUCKETS + 1).max(MAX_RANGE_DAYS * 24 + 1) as usize;
        while at < self.to && starts.len() < limit {
            starts.push(at);
            at += self.bucket.length();
        }
        starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_is_widened_to_whole_hours_and_cut_into_buckets() {
        let range = Range::new(
            at("2026-11-01T10:15:00Z"),
            at("2026-11-02T01:00:01Z"),
            Bucket::Day,
        )
        .unwrap();
        assert_eq!(range.from, at("2026-11-01T10:00:00Z"));
        assert_eq!(range.to, at("2026-11-02T02:00:00Z"));
        assert_eq!(
            range.bucket_starts(),
            vec![at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z")]
        );
        let hourly = Range::new(range.from, range.to, Bucket::Hour).unwrap();
        assert_eq!(hourly.bucket_starts().len(), 16);
    }

    #[test]
    fn empty_long_and_too_finely_cut_ranges_are_refused() {
        let t = at("2026-11-01T00:00:00Z");
        let err = Range::new(t, t, Bucket::Day).unwrap_err();
        assert_eq!(err.field, "to");
        let err = Range::new(t, t + Duration::days(367), Bucket::Day).unwrap_err();
        assert_eq!((err.field, err.message.contains("366 days")), ("to", true));
        assert!(Range::new(t, t + Duration::days(366), Bucket::Day).is_ok());
        let err = Range::new(t, t + Duration::days(60), Bucket::Hour).unwrap_err();
        assert_eq!(err.field, "bucket");
        assert!(Range::new(t, t + Duration::days(41), Bucket::Hour).is_ok());
    }
}
