//! The integrations slice: entities and queries.

pub mod connections;
pub mod oauth_states;

/// Where an encrypted value sits, bound into its ciphertext as associated
/// data: a value copied to another row or column does not decrypt.
pub fn aad(table: &str, id: uuid::Uuid, column: &str) -> String {
    format!("{table}:{id}:{column}")
}
