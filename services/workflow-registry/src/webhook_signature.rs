//! Webhook signatures: reading the signature header and checking it against
//! the body. Every input here comes from an anonymous caller, so nothing
//! panics and every length is bounded.
//!
//! Two schemes, chosen per webhook trigger (`signature_scheme`):
//! - `sha256` (the default): the header is `sha256=<hex HMAC-SHA256 of the body>`.
//! - `timestamped`: the header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//!   (several `v1=` entries may be given, e.g. while the sender rotates
//!   its secret; one must match). A delivery whose `t` is further than the
//!   tolerance from now is refused, so a captured delivery cannot be
//!   replayed later.

use hmac::{Hmac, Mac};

/// Longest header value read; a real one is under 200 bytes.
pub const MAX_HEADER_LEN: usize = 2048;
/// Most `v1=` entries read from one timestamped header.
pub const MAX_SIGNATURES: usize = 8;
const DIGEST_LEN: usize = 32;

/// How a webhook trigger's deliveries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    Sha256,
    Timestamped,
}

impl Scheme {
    /// The scheme named in a trigger's config (`None`: the default).
    pub fn named(name: Option<&str>) -> Option<Self> {
        match name {
            None | Some("sha256") => Some(Self::Sha256),
            Some("timestamped") => Some(Self::Timestamped),
            Some(_) => None,
        }
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("the signature must be sha256=<hex>")]
    NotSha256,
    #[error("the signature must be t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature's timestamp is outside the accepted window")]
    Expired,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// A parsed `t=<unix>,v1=<hex>[,v1=<hex>...]` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamped {
    pub timestamp: i64,
    pub signatures: Vec<[u8; DIGEST_LEN]>,
}

/// Reads a timestamped header. Unknown keys are skipped (room for later
/// versions); `t` must appear once, as decimal seconds; at least one `v1`.
pub fn parse_timestamped(header: &str) -> Result<Timestamped, SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::TooLong);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.split_once('=').ok_or(SignatureError::Malformed)?;
        match key.trim() {
            "t" => {
                let value = value.trim();
                let valid = !value.is_empty()
                    && value.len() <= 12
                    && value.bytes().all(|b| b.is_ascii_digit());
                let parsed = value.parse::<i64>().ok().filter(|_| valid);
                if timestamp.is_some() || parsed.is_none() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = parsed;
            }
            "v1" => {
                if signatures.len() == MAX_SIGNATURES {
                    return Err(SignatureError::Malformed);
                }
                signatures.push(digest(value.trim()).ok_or(SignatureError::Malformed)?);
            }
            _ => {}
        }
    }
    match timestamp {
        Some(timestamp) if !signatures.is_empty() => Ok(Timestamped {
            timestamp,
            signatures,
        }),
        _ => Err(SignatureError::Malformed),
    }
}

/// Reads a plain `sha256=<hex>` header; the prefix is required.
pub fn parse_sha256(header: &str) -> Result<[u8; DIGEST_LEN], SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::TooLong);
    }
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::NotSha256)?;
    digest(hex_sig.trim()).ok_or(SignatureError::NotSha256)
}

fn digest(hex_sig: &str) -> Option<[u8; DIGEST_LEN]> {
    if hex_sig.len() != 2 * DIGEST_LEN {
        return None;
    }
    let bytes = hex::decode(hex_sig).ok()?;
    bytes.try_into().ok()
}

/// Checks `header` against `body` signed with `secret` under `scheme`;
/// `now` and `tolerance_secs` bound a timestamped signature's age.
pub fn verify(
    scheme: Scheme,
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    match scheme {
        Scheme::Sha256 => {
            let given = parse_sha256(header)?;
            matches(secret, &[body], &given)
        }
        Scheme::Timestamped => {
            let parsed = parse_timestamped(header)?;
            if now.abs_diff(parsed.timestamp) > tolerance_secs.unsigned_abs() {
                return Err(SignatureError::Expired);
            }
            let stamp = format!("{}.", parsed.timestamp);
            parsed
                .signatures
                .iter()
                .find(|given| matches(secret, &[stamp.as_bytes(), body], given.as_slice()).is_ok())
                .map(|_| ())
                .ok_or(SignatureError::Mismatch)
        }
    }
}

/// Constant-time comparison of the HMAC of `parts` with `given`.
fn matches(secret: &[u8], parts: &[&[u8]], given: &[u8]) -> Result<(), SignatureError> {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(given)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value of a timestamped signature (for senders and tests).
pub fn sign_timestamped(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(hmac_of(secret, &[format!("{timestamp}.").as_bytes(), body]))
    )
}

/// The header value of a plain signature (for senders and tests).
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_of(secret, &[body])))
}

fn hmac_of(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes a key of any length: new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"shh";
    const NOW: i64 = 1_700_000_000;

    #[test]
    fn a_timestamped_signature_verifies_within_the_tolerance_only() {
        let header = sign_timestamped(SECRET, NOW - 100, b"{}");
        assert_eq!(
            verify(Scheme::Timestamped, SECRET, &header, b"{}", NOW, 300),
            Ok(())
        );
        assert_eq!(
            verify(Scheme::Timestamped, SECRET, &header, b"{}", NOW + 300, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(Scheme::Timestamped, SECRET, &header, b"{ }", NOW, 300),
            Err(SignatureError::Mismatch)
        );
        // The time is signed: moving it breaks the signature.
        let moved = header.replacen(&format!("t={}", NOW - 100), &format!("t={NOW}"), 1);
        assert_eq!(
            verify(Scheme::Timestamped, SECRET, &moved, b"{}", NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_v1_entries_may_match_and_unknown_keys_are_skipped() {
        let good = sign_timestamped(SECRET, NOW, b"x");
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW}, v0=abc, v1={}, v1={v1}", "00".repeat(32));
        assert_eq!(
            verify(Scheme::Timestamped, SECRET, &header, b"x", NOW, 300),
            Ok(())
        );
    }

    #[test]
    fn malformed_timestamped_headers_are_refused() {
        let v1 = "ab".repeat(32);
        for header in [
            String::new(),
            "t=1".into(),
            format!("v1={v1}"),
            format!("t=,v1={v1}"),
            format!("t=-5,v1={v1}"),
            format!("t=1,t=2,v1={v1}"),
            format!("t=99999999999999999999,v1={v1}"),
            format!("t=1,v1={}", "ab".repeat(31)),
            format!("t=1,v1={}", "zz".repeat(32)),
            format!("t=1;v1={v1}"),
            format!("t=1,v1={v1},garbage"),
            format!("t=1{}", format!(",v1={v1}").repeat(MAX_SIGNATURES + 1)),
            "é=ü,t=1".into(),
        ] {
            assert_eq!(
                parse_timestamped(&header),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
        assert_eq!(
            parse_timestamped(&"t=1,".repeat(MAX_HEADER_LEN)),
            Err(SignatureError::TooLong)
        );
    }

    #[test]
    fn the_plain_scheme_requires_its_prefix() {
        let header = sign_sha256(SECRET, b"body");
        assert_eq!(
            verify(Scheme::Sha256, SECRET, &header, b"body", NOW, 0),
            Ok(())
        );
        let bare = header.trim_start_matches("sha256=");
        assert_eq!(
            verify(Scheme::Sha256, SECRET, bare, b"body", NOW, 0),
            Err(SignatureError::NotSha256)
        );
        assert_eq!(
            verify(Scheme::Sha256, SECRET, "sha256=zz", b"body", NOW, 0),
            Err(SignatureError::NotSha256)
        );
    }

    #[test]
    fn scheme_names() {
        assert_eq!(Scheme::named(None), Some(Scheme::Sha256));
        assert_eq!(
            Scheme::named(Some("timestamped")),
            Some(Scheme::Timestamped)
        );
        assert_eq!(Scheme::named(Some("md5")), None);
    }
}
