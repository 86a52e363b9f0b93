//! Signed, short-lived links to a session's QR page, so a browser can show it without
//! holding an API key. The signature is an HMAC over the session id and the expiry.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl LinkSigner {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    fn mac(&self, session_id: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"wagate-qr-link\0");
        mac.update(session_id.as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The web console's sign-ins, keyed from the same secret (so every router replica
    /// given the same secret accepts them).
    pub fn console_sessions(&self) -> super::ConsoleSessions {
        super::ConsoleSessions::new(&self.key)
    }

    /// The `exp`/`sig` query of a link valid until `expires_at`.
    pub fn sign(&self, session_id: &str, expires_at: DateTime<Utc>) -> String {
        let exp = expires_at.timestamp();
        let sig = hex::encode(self.mac(session_id, exp).finalize().into_bytes());
        format!("exp={exp}&sig={sig}")
    }

    /// True when `sig` is this signer's (constant-time) and `exp` is in the future.
    pub fn verify(&self, session_id: &str, exp: i64, sig: &str, now: DateTime<Utc>) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        exp > now.timestamp() && self.mac(session_id, exp).verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(query: &str) -> (i64, String) {
        let mut exp = 0;
        let mut sig = String::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().unwrap(),
                Some(("sig", v)) => sig = v.to_string(),
                _ => {}
            }
        }
        (exp, sig)
    }

    #[test]
    fn valid_until_expiry_and_only_for_its_session() {
        let signer = LinkSigner::new(b"k".to_vec());
        let now = Utc::now();
        let (exp, sig) = parts(&signer.sign("a", now + chrono::Duration::minutes(5)));
        assert!(signer.verify("a", exp, &sig, now));
        assert!(!signer.verify("b", exp, &sig, now), "other session");
        assert!(!signer.verify("a", exp + 1, &sig, now), "tampered expiry");
        assert!(
            !signer.verify("a", exp, &sig, now + chrono::Duration::minutes(6)),
            "expired"
        );
        assert!(
            !LinkSigner::new(b"other".to_vec()).verify("a", exp, &sig, now),
            "other key"
        );
    }
}
