//! The executions slice: entities and queries.

pub mod dead_letters;
pub mod erasure;
pub mod executions;
pub mod retries;
pub mod steps;
pub mod wakeups;

/// Execution and step statuses, as stored and served.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    pub const ALL: [&str; 5] = [QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED];

    pub fn is_terminal(status: &str) -> bool {
        matches!(status, COMPLETED | FAILED | CANCELLED)
    }
}
