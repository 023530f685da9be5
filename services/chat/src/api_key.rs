//! Chatbot API keys: random, shown once, stored only as a SHA-256 hash.
//!
//! A key carries 244 random bits, so a fast hash is enough: nobody can guess
//! a preimage, and lookups by hash stay one indexed query.

use sha2::{Digest, Sha256};

const PREFIX: &str = "ecb_";

/// A new key in clear, for the one answer that shows it.
pub fn generate() -> String {
    format!(
        "{PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// What the API shows of a stored key, so owners can tell keys apart.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(PREFIX.len() + 8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("ecb_") && a.len() == 68);
        assert_eq!(hash(&a), hash(&format!(" {a} ")));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(display_prefix(&a).len(), 12);
    }
}
