//! Random secrets and their hashes: virtual keys, session tokens, CSRF tokens,
//! request ids. Everything comes from the OS CSPRNG.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// `n` random base62 characters.
pub fn random_base62(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

/// The base62 alphabet in ASCII order, so fixed-width base62 numbers sort as text.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A request id: `req_` and 24 base62 characters, the first 8 of them the time in
/// milliseconds. Ids therefore sort by time, so the ledger's unique index on them grows
/// at its end; fully random ids dirty one random index page per row, which multiplied
/// the ledger's WAL writes. The other 16 characters (95 bits) are random.
pub fn request_id(now_ms: i64) -> String {
    let mut out = String::with_capacity(28);
    out.push_str("req_");
    let mut t = now_ms.max(0) as u64;
    let mut time = [b'0'; 8];
    for slot in time.iter_mut().rev() {
        *slot = BASE62[(t % 62) as usize];
        t /= 62;
    }
    out.extend(time.iter().map(|&b| char::from(b)));
    out.push_str(&random_base62(16));
    out
}

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_base62() {
        let a = random_base62(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_base62(32));
    }

    #[test]
    fn request_ids_sort_by_time() {
        let a = request_id(1_767_225_600_000);
        let b = request_id(1_767_225_600_001);
        assert!(a.starts_with("req_") && a.len() == 28, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(a < b, "{a} !< {b}");
        assert_ne!(request_id(5), request_id(5));
    }

    #[test]
    fn hashes_and_compares() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
