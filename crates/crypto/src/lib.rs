//! Secrets at rest: AES-256-GCM under a keyring of named keys, one active.
//!
//! Integrations seals its OAuth tokens with it, the workflow registry its
//! webhook HMAC secrets. A value is stored as `base64(nonce || ciphertext)`
//! (a random 96-bit nonce per value) next to the id of the key that sealed
//! it, and is bound to its place (e.g. `connection:<id>:access_token`) as
//! associated data, so a ciphertext copied into another row or column does
//! not decrypt.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
/// The public development key's id: fine on a laptop, never in production.
pub const DEV_KEY_ID: &str = "dev";

/// Why a keyring could not be built from settings (the message names the
/// setting without its section; see [`Keyring::parse_section`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("encryption_keys: entry {0} is not \"key_id:base64key\"")]
    Malformed(usize),
    #[error("encryption_keys: key id {0:?} may only hold letters, digits, '-', '_' and '.'")]
    BadKeyId(String),
    #[error("encryption_keys: key {0:?} is not valid base64")]
    NotBase64(String),
    #[error("encryption_keys: key {id:?} is {len} bytes; AES-256 needs exactly 32")]
    WrongLength { id: String, len: usize },
    #[error("encryption_keys: key id {0:?} appears twice")]
    Duplicate(String),
    #[error("active_key_id {0:?} is not one of the encryption_keys")]
    NoActiveKey(String),
}

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("no encryption key with id {0:?} is configured")]
    UnknownKey(String),
    #[error("the stored value is not valid ciphertext")]
    Malformed,
    #[error("the stored value does not decrypt under key {0:?} (wrong key or tampered)")]
    Rejected(String),
    #[error("encryption failed")]
    Seal,
}

/// The configured keys; values are sealed under the active one and opened
/// under whichever key their record names.
#[derive(Clone)]
pub struct Keyring {
    keys: HashMap<String, Aes256Gcm>,
    active: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("key_ids", &ids)
            .field("active", &self.active)
            .finish()
    }
}

impl Keyring {
    /// Parses `kid:base64(32 bytes),kid2:...` and checks `active` is among them.
    pub fn parse(spec: &SecretString, active: &str) -> Result<Self, KeyringError> {
        let mut keys = HashMap::new();
        let entries = spec
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (i, entry) in entries.enumerate() {
            let (id, encoded) = entry.split_once(':').ok_or(KeyringError::Malformed(i))?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(KeyringError::BadKeyId(id.to_string()));
            }
            let bytes = STANDARD
                .decode(encoded.trim())
                .map_err(|_| KeyringError::NotBase64(id.to_string()))?;
            if bytes.len() != KEY_LEN {
                return Err(KeyringError::WrongLength {
                    id: id.to_string(),
                    len: bytes.len(),
                });
            }
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| KeyringError::WrongLength {
                    id: id.to_string(),
                    len: bytes.len(),
                })?;
            if keys.insert(id.to_string(), cipher).is_some() {
                return Err(KeyringError::Duplicate(id.to_string()));
            }
        }
        let active = active.trim().to_string();
        if !keys.contains_key(&active) {
            return Err(KeyringError::NoActiveKey(active));
        }
        Ok(Self { keys, active })
    }

    /// [`Keyring::parse`] of the settings `<section>.encryption_keys` and
    /// `<section>.active_key_id`, an error naming the setting in full.
    pub fn parse_section(
        section: &str,
        spec: &SecretString,
        active: &str,
    ) -> Result<Self, anyhow::Error> {
        Self::parse(spec, active).map_err(|e| anyhow::anyhow!("{section}.{e}"))
    }

    /// The id of the key new values are sealed under.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Seals `plaintext` under the active key, bound to `aad`.
    pub fn encrypt(&self, plaintext: &str, aad: &str) -> Result<String, CryptoError> {
        let cipher = self
            .keys
            .get(&self.active)
            .ok_or_else(|| CryptoError::UnknownKey(self.active.clone()))?;
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a value sealed under `key_id` and bound to `aad`.
    pub fn decrypt(&self, key_id: &str, stored: &str, aad: &str) -> Result<String, CryptoError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        let raw = STANDARD
            .decode(stored.trim())
            .map_err(|_| CryptoError::Malformed)?;
        if raw.len() <= NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Rejected(key_id.to_string()))?;
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }
}

/// A fresh random key in the settings format, e.g. for `echoflow up`.
pub fn generate_key_entry(key_id: &str) -> String {
    let key: [u8; KEY_LEN] = rand::random();
    format!("{key_id}:{}", STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str, active: &str) -> Keyring {
        Keyring::parse(&SecretString::from(spec.to_string()), active).unwrap()
    }

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let k = ring(&format!("k1:{}", key(1)), "k1");
        let a = k
            .encrypt("xoxb-secret", "connection:1:access_token")
            .unwrap();
        let b = k
            .encrypt("xoxb-secret", "connection:1:access_token")
            .unwrap();
        assert_ne!(a, b, "nonces must differ");
        assert!(!a.contains("xoxb"));
        assert_eq!(
            k.decrypt("k1", &a, "connection:1:access_token").unwrap(),
            "xoxb-secret"
        );
    }

    #[test]
    fn wrong_key_wrong_place_and_tampering_fail() {
        let k1 = ring(&format!("k1:{}", key(1)), "k1");
        let sealed = k1.encrypt("token", "a").unwrap();
        // Same id, other bytes: the wrong key.
        let other = ring(&format!("k1:{}", key(2)), "k1");
        assert_eq!(
            other.decrypt("k1", &sealed, "a"),
            Err(CryptoError::Rejected("k1".into()))
        );
        assert_eq!(
            k1.decrypt("k2", &sealed, "a"),
            Err(CryptoError::UnknownKey("k2".into()))
        );
        // Bound to its place.
        assert!(k1.decrypt("k1", &sealed, "b").is_err());
        // One flipped bit anywhere.
        let mut raw = STANDARD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            k1.decrypt("k1", &STANDARD.encode(&raw), "a"),
            Err(CryptoError::Rejected("k1".into()))
        );
        assert_eq!(
            k1.decrypt("k1", "not base64!", "a"),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_new_ones_under_the_new_key() {
        let old = ring(&format!("old:{}", key(1)), "old");
        let sealed = old.encrypt("refresh", "r").unwrap();
        let both = ring(&format!("old:{},new:{}", key(1), key(3)), "new");
        assert_eq!(both.active_id(), "new");
        assert_eq!(both.decrypt("old", &sealed, "r").unwrap(), "refresh");
        let resealed = both.encrypt("refresh", "r").unwrap();
        let only_new = ring(&format!("new:{}", key(3)), "new");
        assert_eq!(only_new.decrypt("new", &resealed, "r").unwrap(), "refresh");
        assert!(only_new.decrypt("old", &sealed, "r").is_err());
    }

    #[test]
    fn bad_keyrings_are_refused_with_a_clear_error() {
        let parse = |s: &str, a: &str| Keyring::parse(&SecretString::from(s.to_string()), a);
        assert_eq!(
            parse(&format!("k:{}", STANDARD.encode([0u8; 16])), "k").unwrap_err(),
            KeyringError::WrongLength {
                id: "k".into(),
                len: 16
            }
        );
        assert_eq!(
            parse(&format!("k:{}", key(1)), "other").unwrap_err(),
            KeyringError::NoActiveKey("other".into())
        );
        assert_eq!(
            parse("nocolon", "k").unwrap_err(),
            KeyringError::Malformed(0)
        );
        assert_eq!(
            parse("k:***", "k").unwrap_err(),
            KeyringError::NotBase64("k".into())
        );
        assert_eq!(
            parse(&format!("k:{},k:{}", key(1), key(2)), "k").unwrap_err(),
            KeyringError::Duplicate("k".into())
        );
        assert!(parse(&generate_key_entry("fresh"), "fresh").is_ok());
        let message = Keyring::parse_section("registry", &SecretString::from("nocolon"), "k")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "registry.encryption_keys: entry 0 is not \"key_id:base64key\""
        );
        // The development default parses.
        let dev = "dev:ZWNob2Zsb3ctZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZXM=";
        assert!(parse(dev, DEV_KEY_ID).is_ok());
    }
}
