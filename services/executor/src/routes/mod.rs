//! The executor's routes.

pub mod control;
pub mod executions;
pub mod internal;
