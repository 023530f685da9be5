//! The executor's routes.

pub mod executions;
pub mod internal;
