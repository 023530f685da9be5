//! The executor's background loops, beside the job consumer: the waker
//! (due waits become jobs again) and retention (old executions pruned).

pub mod retention;
pub mod waker;
