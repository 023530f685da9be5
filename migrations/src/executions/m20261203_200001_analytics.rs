//! Analytics for the executions slice: the rollup tables, and the indexes
//! the overview and the roller read by (an owner's executions by end time and
//! by status; every execution by end time, for rolling up one hour).

use crate::analytics::Rollups;

pub const MIGRATION: Rollups = Rollups {
    name: "m20261203_200001_analytics",
    indexes: &INDEXES,
};

const INDEXES: [(&str, &str, &[&str]); 3] = [
    (
        "executions_owner_completed",
        "executions",
        &["owner_id", "completed_at"],
    ),
    ("executions_completed", "executions", &["completed_at"]),
    (
        "executions_owner_status",
        "executions",
        &["owner_id", "status", "queued_at"],
    ),
];
