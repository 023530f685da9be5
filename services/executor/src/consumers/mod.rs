//! Bus consumers of the executor.

pub mod jobs;
