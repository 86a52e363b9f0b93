//! The web console's sign-in: an API key, checked once at `POST /ui/login`, is exchanged
//! for an `HttpOnly`, `SameSite=Strict` cookie, so the key itself never sits in the
//! browser. The cookie is signed (HMAC) over the key's name, its expiry and the key's
//! digest: it needs no server-side store (any router replica accepts it), and it stops
//! working when the key is removed or rotated. A signed-out cookie is remembered (by this
//! process, until the cookie would expire), so a copy of it is refused here too.
//!
//! Requests that change something must also carry `x-wagate-csrf`, a token derived from
//! the cookie that only our own pages hold (in a `<meta>`); another site can neither read
//! it nor send a custom header without a CORS preflight, which the gateway never allows.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::keys::{ApiKeySet, Caller};

type HmacSha256 = Hmac<Sha256>;

/// Name of the console's cookie.
pub const COOKIE_NAME: &str = "wagate_console";
/// Header carrying the CSRF token on requests that change something.
pub const CSRF_HEADER: &str = "x-wagate-csrf";
/// How long a sign-in lasts.
pub const SIGN_IN_HOURS: i64 = 8;

/// Why a console cookie was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleAuthError {
    #[error("the console sign-in has expired or is not valid; sign in again")]
    SignedOut,
    #[error("the request lacks the console's CSRF token")]
    MissingCsrf,
}

/// Signs and checks console cookies with a key of their own.
pub struct ConsoleSessions {
    key: Vec<u8>,
    /// Signed-out cookies (their signature) until they expire.
    revoked: Mutex<HashMap<Vec<u8>, i64>>,
}

/// A signed-in console user.
#[derive(Clone)]
pub struct ConsoleUser {
    pub caller: Caller,
    /// The token the user's pages send in [`CSRF_HEADER`].
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

impl ConsoleSessions {
    /// `secret` is the gateway's signing secret; the console derives its own key from it.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"wagate-console-cookie-key");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
            revoked: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, name: &str, expires: i64, key_digest: &[u8; 32]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"session\0");
        mac.update(name.as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(key_digest);
        mac
    }

    fn csrf_for(&self, cookie_value: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"csrf\0");
        mac.update(cookie_value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Signs in with `presented` (an API key): the `Set-Cookie` value, or `None` when the
    /// key is not valid. `secure` marks the cookie HTTPS-only (the page came over HTTPS).
    pub fn sign_in(
        &self,
        keys: &ApiKeySet,
        presented: &str,
        secure: bool,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let (digest, caller) = keys.authenticate_with_digest(presented)?;
        let expires = (now + Duration::hours(SIGN_IN_HOURS)).timestamp();
        let sig = hex::encode(
            self.mac(&caller.name, expires, &digest)
                .finalize()
                .into_bytes(),
        );
        let value = format!("{}.{expires}.{sig}", hex::encode(caller.name.as_bytes()));
        Some(console_cookie(
            value,
            secure,
            cookie::time::Duration::hours(SIGN_IN_HOURS),
        ))
    }

    /// The `Set-Cookie` value that signs the browser out.
    pub fn sign_out_cookie(&self) -> String {
        console_cookie(String::new(), false, cookie::time::Duration::ZERO)
    }

    /// Forgets the sign-in of this cookie for good (until it would have expired anyway).
    pub fn sign_out(&self, headers: &http::HeaderMap) {
        let Some(value) = cookie_value(headers) else {
            return;
        };
        let Some((_, expires, sig)) = split(&value) else {
            return;
        };
        let now = Utc::now().timestamp();
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, until| *until > now);
        revoked.insert(sig, expires);
    }

    /// The signed-in user of a request, if it carries a valid console cookie; `None` when
    /// it carries none.
    pub fn user(
        &self,
        keys: &ApiKeySet,
        headers: &http::HeaderMap,
        now: DateTime<Utc>,
    ) -> Option<Result<ConsoleUser, ConsoleAuthError>> {
        let value = cookie_value(headers)?;
        Some(self.verify(keys, &value, now))
    }

    fn verify(
        &self,
        keys: &ApiKeySet,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<ConsoleUser, ConsoleAuthError> {
        let (name, expires, sig) = split(value).ok_or(ConsoleAuthError::SignedOut)?;
        if expires <= now.timestamp() {
            return Err(ConsoleAuthError::SignedOut);
        }
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        if revoked.contains_key(&sig) {
            return Err(ConsoleAuthError::SignedOut);
        }
        drop(revoked);
        let caller = keys
            .named(&name)
            .find(|(digest, _)| self.mac(&name, expires, digest).verify_slice(&sig).is_ok())
            .map(|(_, caller)| caller)
            .ok_or(ConsoleAuthError::SignedOut)?;
        Ok(ConsoleUser {
            caller,
            csrf: self.csrf_for(value),
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(now),
        })
    }

    /// Whether a request that changes something carries the user's CSRF token.
    pub fn check_csrf(
        &self,
        user: &ConsoleUser,
        headers: &http::HeaderMap,
    ) -> Result<(), ConsoleAuthError> {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(ConsoleAuthError::MissingCsrf)?;
        if bool::from(sent.as_bytes().ct_eq(user.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(ConsoleAuthError::MissingCsrf)
        }
    }
}

fn console_cookie(value: String, secure: bool, max_age: cookie::time::Duration) -> String {
    Cookie::build((COOKIE_NAME, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(max_age)
        .build()
        .to_string()
}

/// The console cookie's value, if the request has one.
fn cookie_value(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// `hex(name).expires.hex(sig)` → its parts.
fn split(value: &str) -> Option<(String, i64, Vec<u8>)> {
    let mut parts = value.splitn(3, '.');
    let name = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    let expires = parts.next()?.parse().ok()?;
    let sig = hex::decode(parts.next()?).ok()?;
    Some((name, expires, sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeySpec;

    fn keys(secret: &str) -> ApiKeySet {
        ApiKeySet::from_specs(vec![KeySpec {
            name: "ops".into(),
            secret: secret.into(),
            sessions: vec!["acme-*".into()],
            read_only: true,
            rate_limit: None,
        }])
        .unwrap()
    }

    fn request_with(set_cookie: &str) -> http::HeaderMap {
        let pair = set_cookie.split(';').next().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, pair.parse().unwrap());
        headers
    }

    #[test]
    fn a_cookie_carries_the_keys_scope_and_nothing_else() {
        let console = ConsoleSessions::new(b"secret");
        let keys = keys("a-long-enough-secret");
        let now = Utc::now();
        assert!(
            console
                .sign_in(&keys, "wrong-key-wrong-key", false, now)
                .is_none()
        );
        let set = console
            .sign_in(&keys, "a-long-enough-secret", false, now)
            .unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert!(
            !set.contains("a-long-enough-secret"),
            "the key is not in the cookie"
        );
        let user = console
            .user(&keys, &request_with(&set), now)
            .unwrap()
            .unwrap();
        assert_eq!(&*user.caller.name, "ops");
        assert!(user.caller.read_only && user.caller.may_access("acme-1"));
        assert!(!user.caller.may_access("other"));
    }

    #[test]
    fn expired_tampered_rotated_or_signed_out_cookies_are_refused() {
        let console = ConsoleSessions::new(b"secret");
        let keys = keys("a-long-enough-secret");
        let now = Utc::now();
        let set = console
            .sign_in(&keys, "a-long-enough-secret", true, now)
            .unwrap();
        assert!(set.contains("Secure"));
        let headers = request_with(&set);
        let later = now + Duration::hours(SIGN_IN_HOURS) + Duration::seconds(1);
        assert!(matches!(console.user(&keys, &headers, later), Some(Err(_))));
        let rotated = self::keys("another-long-secret");
        assert!(matches!(
            console.user(&rotated, &headers, now),
            Some(Err(_))
        ));
        let other_gateway = ConsoleSessions::new(b"other");
        assert!(matches!(
            other_gateway.user(&keys, &headers, now),
            Some(Err(_))
        ));
        let tampered = request_with(&set.replacen("6f7073", "6f7074", 1));
        assert!(matches!(console.user(&keys, &tampered, now), Some(Err(_))));
        console.sign_out(&headers);
        assert!(matches!(console.user(&keys, &headers, now), Some(Err(_))));
        assert!(console.user(&keys, &http::HeaderMap::new(), now).is_none());
    }

    #[test]
    fn changes_need_the_csrf_token_of_this_cookie() {
        let console = ConsoleSessions::new(b"secret");
        let keys = keys("a-long-enough-secret");
        let now = Utc::now();
        let set = console
            .sign_in(&keys, "a-long-enough-secret", false, now)
            .unwrap();
        let mut headers = request_with(&set);
        let user = console.user(&keys, &headers, now).unwrap().unwrap();
        assert_eq!(
            console.check_csrf(&user, &headers),
            Err(ConsoleAuthError::MissingCsrf)
        );
        headers.insert(CSRF_HEADER, "0".repeat(64).parse().unwrap());
        assert!(console.check_csrf(&user, &headers).is_err());
        headers.insert(CSRF_HEADER, user.csrf.parse().unwrap());
        assert_eq!(console.check_csrf(&user, &headers), Ok(()));
    }
}
