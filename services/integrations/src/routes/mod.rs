//! HTTP routes of the integrations service.

pub mod connect;
pub mod connections;
pub mod internal;

use crate::error::{Error, invalid};
use crate::provider::Provider;

/// The `{provider}` of a path: a 422 naming `provider` when unknown.
pub fn provider_of(raw: &str) -> Result<Provider, Error> {
    Provider::parse(raw).ok_or_else(|| {
        let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
        invalid(
            "provider",
            format!("unknown provider {raw:?}; one of {}", known.join(", ")),
        )
    })
}
