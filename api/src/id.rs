//! External session ids: 1-64 chars of `[A-Za-z0-9_-]`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ApiError;

pub const SESSION_ID_MAX_LEN: usize = 64;
pub const SESSION_ID_RULE: &str = "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'";

/// Checks a session id against the contract's rule; the error names the rule.
pub fn validate_session_id(raw: &str) -> Result<(), ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= SESSION_ID_MAX_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("sessionId", SESSION_ID_RULE))
    }
}

/// A session id that passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        validate_session_id(raw)?;
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw)
            .map_err(|_| serde::de::Error::custom(format!("sessionId {SESSION_ID_RULE}")))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seed_forms() {
        for ok in ["trainer_123", "my-session-01", "a", &"x".repeat(64)] {
            assert!(SessionId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_with_the_rule() {
        for bad in [
            "",
            "has space",
            "dots.not.ok",
            "ü",
            &"x".repeat(65),
            "../etc",
        ] {
            let err = SessionId::parse(bad).unwrap_err();
            assert_eq!(err.details.unwrap()["sessionId"], SESSION_ID_RULE, "{bad}");
        }
    }
}
