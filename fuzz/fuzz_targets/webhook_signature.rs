//! Webhook signature headers (`sha256=<hex>` and `t=<unix>,v1=<hex>`), which any anonymous
//! caller of a webhook sends: any header and body give Ok or a refusal, never a panic, and
//! what the sender functions sign always verifies.
#![no_main]

#[allow(dead_code)]
#[path = "../../services/workflow-registry/src/webhook_signature.rs"]
mod signature;

use libfuzzer_sys::fuzz_target;
use signature::{Scheme, sign_sha256, sign_timestamped, verify};

const NOW: i64 = 1_796_000_000;

fuzz_target!(|data: &[u8]| {
    // the first line is the header, the rest the body
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let secret = b"fuzz-secret";
    for scheme in [Scheme::Sha256, Scheme::Timestamped] {
        let _ = verify(scheme, secret, header, body, NOW, 300);
    }
    let _ = signature::parse_timestamped(header);
    let _ = signature::parse_sha256(header);
    assert_eq!(verify(Scheme::Sha256, secret, &sign_sha256(secret, body), body, NOW, 300), Ok(()));
    let signed = sign_timestamped(secret, NOW - 10, body);
    assert_eq!(verify(Scheme::Timestamped, secret, &signed, body, NOW, 300), Ok(()));
});
