//! Webhook signatures: every body is signed with its rule's secret, the way GitHub and Stripe
//! sign theirs. A receiver recomputes `HMAC-SHA256(secret, "<timestamp>.<body>")`, compares it
//! with `X-Streamq-Signature: sha256=<hex>` in constant time, and refuses a timestamp
//! (`X-Streamq-Timestamp`, Unix seconds) older than it tolerates (five minutes, say), so that a
//! captured request cannot be replayed.

use hmac::{KeyInit, Mac};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Streamq-Signature";
/// The header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Streamq-Timestamp";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", crate::auth::hex(&mac.finalize().into_bytes()))
}

/// What a receiver does: the signature matches and the timestamp is within `tolerance_secs`
/// of `now`.
pub fn verify(
    secret: &str,
    signature: &str,
    timestamp: i64,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    (now - timestamp).abs() <= tolerance_secs
        && crate::auth::same(&sign(secret, timestamp, body), signature.trim())
}

/// A new rule's secret: 32 random bytes, hex.
pub fn new_secret() -> String {
    crate::auth::random_hex(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_secret_body_and_time() {
        // RFC 4231 test case 2, to pin the construction to HMAC-SHA256 itself.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            crate::auth::hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = sign("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify(
            "s3cret",
            &sig,
            1_700_000_000,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "other",
            &sig,
            1_700_000_000,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "s3cret",
            &sig,
            1_700_000_000,
            b"{\"a\":2}",
            1_700_000_100,
            300
        ));
        assert!(!verify(
            "s3cret",
            &sig,
            1_700_000_001,
            b"{\"a\":1}",
            1_700_000_100,
            300
        ));
        assert!(
            !verify(
                "s3cret",
                &sig,
                1_700_000_000,
                b"{\"a\":1}",
                1_700_009_000,
                300
            ),
            "a replay outside the tolerance"
        );
        assert_ne!(new_secret(), new_secret());
    }
}
