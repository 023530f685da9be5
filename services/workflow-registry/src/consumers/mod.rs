//! Bus consumers of the registry.

pub mod conditions;
pub mod trigger_events;
