//! Tokens at rest: the shared keyring of `echoflow-crypto`, read from the
//! `[integrations]` settings.

pub use echoflow_crypto::{CryptoError, DEV_KEY_ID, Keyring, KeyringError, generate_key_entry};
