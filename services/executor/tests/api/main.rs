//! Run with: cargo test -p echoflow-executor --test api
#![allow(clippy::unwrap_used)]

mod ai;
mod chatbot_events;
mod control;
mod dead_letters;
mod engine;
mod exactly_once;
mod executions;
mod expressions;
mod health;
mod helpers;
mod methods;
mod network;
mod parallel;
mod respond;
mod step_failures;
mod steps;
