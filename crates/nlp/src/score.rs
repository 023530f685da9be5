//! How scores are written: every score and confidence the analyses return is
//! rounded here.

/// Rounds to 4 decimals so scores serialise compactly and compare stably in tests.
pub(crate) fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}
