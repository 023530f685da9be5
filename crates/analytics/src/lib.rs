//! Analytics: the range and buckets of an overview, the shapes of the figures
//! each service answers for its slice, hourly rollups and duration histograms.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod durations;
pub mod figures;
pub mod range;
pub mod roller;
pub mod rollup;
pub mod tiers;
pub mod trend;

pub use figures::*;
pub use range::{Bucket, Range, RangeError};
