//! Duration histograms: a duration is kept rounded up to two significant
//! digits (1234 ms is 1300 ms), so an hour of any number of executions is a
//! few dozen bins, and a percentile read from the bins is at most 10% high.

/// `ms` rounded up to two significant digits.
pub fn bin(ms: i64) -> u64 {
    let ms = ms.max(0) as u64;
    let mut unit = 1u64;
    while ms / unit >= 100 {
        unit = unit.saturating_mul(10);
    }
    ms.div_ceil(unit).saturating_mul(unit)
}

/// The nearest-rank `q` quantile (0 < q <= 1) of a histogram of `(bin, count)`; None when empty.
pub fn quantile(bins: &[(u64, u64)], q: f64) -> Option<u64> {
    let mut sorted: Vec<(u64, u64)> = bins.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    // The smallest value with at least ceil(q * total) values at or below it.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (value, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_rounded_up_to_two_significant_digits() {
        let cases = [
            (0, 0),
            (7, 7),
            (99, 99),
            (100, 100),
            (101, 110),
            (1234, 1300),
            (1300, 1300),
            (-5, 0),
            (99_001, 100_000),
        ];
        for (ms, expected) in cases {
            assert_eq!(bin(ms), expected, "{ms}");
        }
    }

    #[test]
    fn quantiles_are_nearest_rank_over_the_bins() {
        // 1..=20 hundred ms, one each: p50 is the 10th, p95 the 19th.
        let bins: Vec<(u64, u64)> = (1..=20).map(|i| (i * 100, 1)).collect();
        assert_eq!(quantile(&bins, 0.5), Some(1000));
        assert_eq!(quantile(&bins, 0.95), Some(1900));
        assert_eq!(quantile(&[(40, 3), (10, 1)], 0.5), Some(40));
        assert_eq!(quantile(&[(40, 3), (10, 1)], 0.25), Some(10));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[(5, 0)], 0.5), None);
    }
}
