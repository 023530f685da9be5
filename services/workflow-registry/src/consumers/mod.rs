//! Bus consumers of the registry.

pub mod trigger_events;
