//! Session tokens: the proof, handed out with every chat answer, that the
//! holder is the end user of that conversation.
//!
//! A token is `est_` + hex(HMAC-SHA-256(key, "<chatbot id>:<session id>")),
//! so nothing is stored and any chat replica can check it. The key is derived
//! from `auth.internal_token` (HMAC of it over a fixed label), a secret every
//! chat replica already holds and that must be strong outside `echoflow up`;
//! the label keeps this use apart from the token's own, and the derived key
//! tells nothing about the token. Changing `auth.internal_token` invalidates
//! every session token: widgets then read a 401 and start a new conversation.
//! A token never expires on its own; it opens one conversation of one
//! chatbot, and only together with that chatbot's key.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

const PREFIX: &str = "est_";
const LABEL: &[u8] = b"echoflow chat session token v1";

/// Issues and checks session tokens.
#[derive(Clone)]
pub struct SessionTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionTokens(..)")
    }
}

impl SessionTokens {
    /// Tokens keyed by a key derived from `secret` (`auth.internal_token`).
    pub fn new(secret: &SecretString) -> Self {
        Self {
            key: mac(secret.expose_secret().as_bytes())
                .chain_update(LABEL)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// The token of `session_id` in `chatbot_id`.
    pub fn issue(&self, chatbot_id: Uuid, session_id: Uuid) -> String {
        let tag = self.tag(chatbot_id, session_id).finalize().into_bytes();
        format!("{PREFIX}{}", hex::encode(tag))
    }

    /// Whether `token` is the token of `session_id` in `chatbot_id` (compared in constant time).
    pub fn verify(&self, chatbot_id: Uuid, session_id: Uuid, token: &str) -> bool {
        let Some(tag) = token
            .trim()
            .strip_prefix(PREFIX)
            .and_then(|hex_tag| hex::decode(hex_tag).ok())
        else {
            return false;
        };
        self.tag(chatbot_id, session_id).verify_slice(&tag).is_ok()
    }

    fn tag(&self, chatbot_id: Uuid, session_id: Uuid) -> Hmac<Sha256> {
        mac(&self.key).chain_update(format!("{chatbot_id}:{session_id}"))
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> SessionTokens {
        SessionTokens::new(&SecretString::from(secret.to_string()))
    }

    #[test]
    fn a_token_opens_its_own_session_of_its_own_chatbot_only() {
        let t = tokens("a-secret-of-enough-length-0123456789");
        let (bot, session) = (Uuid::new_v4(), Uuid::new_v4());
        let token = t.issue(bot, session);
        assert!(
            token.starts_with("est_") && token.len() == 4 + 64,
            "{token}"
        );
        assert!(t.verify(bot, session, &token));
        assert!(t.verify(bot, session, &format!(" {token} ")));
        assert!(!t.verify(bot, Uuid::new_v4(), &token));
        assert!(!t.verify(Uuid::new_v4(), session, &token));
        assert!(!t.verify(bot, session, &token[..token.len() - 2]));
        assert!(!t.verify(bot, session, ""));
        assert!(!t.verify(bot, session, "est_zz"));
        assert!(!t.verify(bot, session, &token.replace("est_", "")));
        // Another deployment's secret issues other tokens.
        assert!(!tokens("another-secret-of-enough-length-012345").verify(bot, session, &token));
        assert_eq!(t.issue(bot, session), token);
    }
}
