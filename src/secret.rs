//! Secrets: random values from the OS, their SHA-256 digests (what is stored), and
//! constant-time comparison. No state, no I/O beyond the OS random source.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::SecretDigest;

/// A random secret: `prefix` + 64 lower-case hex digits (256 bits from the OS).
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is unrecoverable for a server that mints credentials.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let mut out = String::with_capacity(prefix.len() + 64);
    out.push_str(prefix);
    push_hex(&mut out, &bytes);
    out
}

/// SHA-256 of a secret, as stored.
pub fn digest(secret: &str) -> SecretDigest {
    let hash = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    push_hex(&mut out, &hash);
    SecretDigest(out)
}

/// Constant-time equality of two digests (or any two secrets of public length).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Lower-case hex, two digits a byte, without an allocation per byte (this runs on every
/// authenticated request).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}
