//! The registry's public routes.

pub mod audit;
pub mod events;
pub mod execute;
pub mod node_types;
pub mod templates;
pub mod versions;
pub mod webhooks;
pub mod workflows;

/// Base URL for links in answers (`webhook_url`), as app data.
#[derive(Clone)]
pub struct PublicUrl(pub String);
