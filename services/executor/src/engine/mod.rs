//! Runs one execution: walks the compiled plan from the trigger, running
//! each reached node with its retry and timeout policy as soon as the nodes
//! before it finished (the branches after a fan-out run at once), and
//! records every step in the same transaction as its ExecutionUpdate. A step
//! already recorded is never run again when a job is redelivered: its output
//! is reused.
//!
//! Where each part lives:
//! - `run.rs`: one job, from its plan to the walk (the entry point).
//! - `admission.rs`: when an execution may run (concurrency limits) and the
//!   claim that makes it `running`.
//! - `walk.rs`: the walk of ready nodes: starting them, waiting, parking the
//!   execution until its wake-up, settling it when nothing is left.
//! - `ready.rs`: where a walk stands and which nodes are ready.
//! - `replay.rs`: a ready node at its start: replayed, left waiting, or run.
//! - `attempt.rs`: one attempt of a node, and what it settles to.
//! - `retry.rs`: whether and when a failed step is tried again.
//! - `ledger.rs`: the step ledger: how a step's row commits, and what else
//!   its commit writes (the end, or the wake-up, of the execution).
//! - `finish.rs`: how an execution ends (completed, failed, dead-lettered).
//! - `nodes/`: what each node kind does; `nodes/mod.rs` dispatches.

pub mod admission;
pub mod attempt;
pub mod finish;
pub mod ledger;
pub mod nodes;
pub mod ready;
pub mod replay;
pub mod retry;
pub mod run;
pub mod walk;

use echoflow_bus::outbox::OutboxHandle;
use sea_orm::{DatabaseConnection, DbErr};

use crate::background::waker;
use nodes::NodeRunner;

/// Why a job could not be run to an end.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job itself is unusable: dead-letter it.
    #[error("{0}")]
    Malformed(String),
    /// The database failed: try again later.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Runs jobs.
#[derive(Clone)]
pub struct Engine {
    pub db: DatabaseConnection,
    pub bus: echoflow_bus::SharedBus,
    pub relay: OutboxHandle,
    pub nodes: NodeRunner,
    /// Wakes the waker when a wait is due soon.
    pub waker: waker::WakerHandle,
}
