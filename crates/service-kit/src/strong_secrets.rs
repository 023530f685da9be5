//! Outside `echoflow up` (which generates its own), a service refuses to
//! start with a secret anyone could know: a built-in default, a shipped
//! placeholder, an empty or a short value.

use secrecy::{ExposeSecret, SecretString};

use crate::settings::{AuthSettings, built_in_default};

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Words of the placeholders that deployment files shipped at some point
/// (`replace-me`, `change-me-compose-jwt-secret-...`).
const PLACEHOLDERS: &[&str] = &["replace-me", "change-me", "changeme"];

/// A setting that holds a secret anyone could know.
#[derive(Debug, thiserror::Error)]
#[error(
    "{env} ({key}) {problem}; refusing to start outside `echoflow up`. \
     Set {env} to a random value of at least {MIN_SECRET_BYTES} bytes \
     (e.g. `openssl rand -hex 32`){hint}"
)]
pub struct WeakSecret {
    pub env: String,
    pub key: String,
    pub problem: &'static str,
    hint: &'static str,
}

impl WeakSecret {
    fn new(key: &str, problem: &'static str, hint: &'static str) -> Self {
        Self {
            env: env_name(key),
            key: key.to_string(),
            problem,
            hint,
        }
    }
}

/// `auth.jwt_secret` -> `ECHOFLOW_AUTH__JWT_SECRET`.
pub fn env_name(key: &str) -> String {
    format!("ECHOFLOW_{}", key.replace('.', "__").to_uppercase())
}

/// The signing key of access tokens and the service-to-service token: both
/// must be the deployment's own.
pub fn require_strong_auth(auth: &AuthSettings) -> Result<(), WeakSecret> {
    require_strong("auth.jwt_secret", &auth.jwt_secret)?;
    require_strong("auth.internal_token", &auth.internal_token)
}

/// `key`'s value is neither its built-in default, a placeholder, empty, nor
/// shorter than [`MIN_SECRET_BYTES`].
pub fn require_strong(key: &str, value: &SecretString) -> Result<(), WeakSecret> {
    const SHARED: &str = ", the same in every service";
    let value = value.expose_secret().trim();
    if value.is_empty() {
        return Err(WeakSecret::new(key, "is empty", SHARED));
    }
    if built_in_default(key).is_some_and(|d| d == value) {
        return Err(WeakSecret::new(
            key,
            "is the public development default",
            SHARED,
        ));
    }
    let lowercase = value.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| lowercase.contains(p)) {
        return Err(WeakSecret::new(key, "is a placeholder", SHARED));
    }
    if value.len() < MIN_SECRET_BYTES {
        return Err(WeakSecret::new(key, "is shorter than 32 bytes", SHARED));
    }
    Ok(())
}

/// A key ring (`<section>.encryption_keys`, `key_id:base64` entries): the
/// active key must not be the public development key. The development key
/// may stay in the ring, not active, to read what it sealed before.
pub fn require_own_active_key(
    section: &str,
    keys: &SecretString,
    active_key_id: &str,
) -> Result<(), WeakSecret> {
    const KEYS_HINT: &str = " as `<key_id>:<base64 of 32 random bytes>` \
        (e.g. `k1:$(openssl rand -base64 32)`), and its key id in the active_key_id setting";
    let key = format!("{section}.encryption_keys");
    let material = |entries: &str, id: &str| {
        entries
            .split(',')
            .filter_map(|e| e.trim().split_once(':'))
            .find(|(entry_id, _)| entry_id.trim() == id)
            .map(|(_, m)| m.trim().to_string())
    };
    let dev = built_in_default(&key).unwrap_or_default();
    let dev_material: Vec<String> = dev
        .split(',')
        .filter_map(|e| e.split_once(':').map(|(_, m)| m.trim().to_string()))
        .collect();
    let keys = keys.expose_secret();
    if keys.trim().is_empty() {
        return Err(WeakSecret::new(&key, "is empty", KEYS_HINT));
    }
    let active = material(keys, active_key_id.trim()).unwrap_or_default();
    if active_key_id.trim() == "dev" || dev_material.contains(&active) {
        return Err(WeakSecret::new(
            &key,
            "makes the public development key the active one",
            KEYS_HINT,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn defaults_placeholders_empty_and_short_secrets_are_refused_by_name() {
        let default = built_in_default("auth.jwt_secret").unwrap();
        for weak in [
            default.as_str(),
            "",
            "  ",
            "replace-me",
            "change-me-compose-jwt-secret-0123456789",
            "short-but-random-7f3a",
        ] {
            let err = require_strong("auth.jwt_secret", &secret(weak)).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with("ECHOFLOW_AUTH__JWT_SECRET (auth.jwt_secret)"),
                "{message}"
            );
        }
        let default = built_in_default("auth.internal_token").unwrap();
        let err = require_strong("auth.internal_token", &secret(&default)).unwrap_err();
        assert_eq!(err.env, "ECHOFLOW_AUTH__INTERNAL_TOKEN");
        assert_eq!(err.problem, "is the public development default");
        require_strong("auth.jwt_secret", &secret(&"a1".repeat(16))).unwrap();
    }

    #[test]
    fn the_development_key_may_not_be_the_active_one() {
        let dev = built_in_default("integrations.encryption_keys").unwrap();
        let own = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let err = require_own_active_key("integrations", &secret(&dev), "dev").unwrap_err();
        assert_eq!(err.env, "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS");
        // The public material under another id is still public.
        let renamed = dev.replace("dev:", "mine:");
        assert!(require_own_active_key("integrations", &secret(&renamed), "mine").is_err());
        assert!(require_own_active_key("integrations", &secret(""), "k1").is_err());
        // Kept for reading old tokens, not active: accepted.
        let both = format!("{dev},{own}");
        require_own_active_key("integrations", &secret(&both), "k1").unwrap();
    }
}
