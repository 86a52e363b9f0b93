//! API keys: who may touch which sessions, and how fast. The router reads them from a
//! YAML file; a session binary takes plain keys (one per line), each seeing its session.
//!
//! ```yaml
//! keys:
//!   - name: acme-app
//!     secret: "sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
//!     sessions: ["acme-*"]
//!     readOnly: false
//!     rateLimit: { perSecond: 20, burst: 40 }
//! ```

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid keys file: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("key '{name}': {why}")]
    Invalid { name: String, why: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<KeySpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySpec {
    pub name: String,
    /// The key itself, or `sha256:<hex>` of it.
    pub secret: String,
    /// Session-id patterns (`*`, `acme-*`); the key sees nothing else.
    #[serde(default = "all_sessions")]
    pub sessions: Vec<String>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
}

fn all_sessions() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitSpec {
    pub per_second: u32,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// An authenticated caller.
#[derive(Clone)]
pub struct Caller {
    pub name: Arc<str>,
    patterns: Arc<[String]>,
    pub read_only: bool,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Caller {
    /// Whether this caller may see and touch session `id`.
    pub fn may_access(&self, id: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, id))
    }

    /// Whether this caller sees every session (what the process-wide `/metrics` shows).
    pub fn sees_all_sessions(&self) -> bool {
        self.patterns.iter().any(|p| p.bytes().all(|b| b == b'*'))
    }

    /// `Err(wait)` when the caller is over its rate.
    pub fn check_rate(&self) -> Result<(), Duration> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
        }
    }
}

struct Entry {
    digest: [u8; 32],
    caller: Caller,
}

/// The keys a binary accepts, kept as SHA-256 digests.
pub struct ApiKeySet {
    entries: Vec<Entry>,
}

impl ApiKeySet {
    pub fn from_specs(specs: Vec<KeySpec>) -> Result<Self, KeysError> {
        let mut entries = Vec::with_capacity(specs.len());
        for spec in specs {
            let invalid = |why: &str| KeysError::Invalid {
                name: spec.name.clone(),
                why: why.into(),
            };
            let digest: [u8; 32] = match spec.secret.strip_prefix("sha256:") {
                Some(hex_digest) => hex::decode(hex_digest)
                    .ok()
                    .and_then(|d| d.try_into().ok())
                    .ok_or_else(|| invalid("sha256: must be followed by 64 hex digits"))?,
                None if spec.secret.len() < 16 => {
                    return Err(invalid("secret must be at least 16 characters"));
                }
                None => Sha256::digest(spec.secret.as_bytes()).into(),
            };
            if spec.sessions.is_empty() {
                return Err(invalid("sessions must list at least one pattern"));
            }
            for pattern in &spec.sessions {
                validate_pattern(pattern).map_err(|why| invalid(&why))?;
            }
            let limiter = match spec.rate_limit {
                None => None,
                Some(rate) => {
                    let per_second = NonZeroU32::new(rate.per_second)
                        .ok_or_else(|| invalid("rateLimit.perSecond must be > 0"))?;
                    let burst = NonZeroU32::new(rate.burst.unwrap_or(rate.per_second))
                        .unwrap_or(per_second);
                    Some(Arc::new(RateLimiter::direct(
                        Quota::per_second(per_second).allow_burst(burst),
                    )))
                }
            };
            let caller = Caller {
                name: spec.name.into(),
                patterns: spec.sessions.into(),
                read_only: spec.read_only,
                limiter,
            };
            entries.push(Entry { digest, caller });
        }
        Ok(Self { entries })
    }

    /// Plain keys given whole (a session pod's internal token, a generated key): each sees
    /// every session, may write and is not rate-limited. No length rule: these are the
    /// platform's own, not a person's.
    pub fn full_access<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) -> Self {
        let entries = secrets
            .into_iter()
            .enumerate()
            .map(|(n, secret)| Entry {
                digest: Sha256::digest(secret.as_ref().as_bytes()).into(),
                caller: Caller {
                    name: format!("key-{}", n + 1).into(),
                    patterns: all_sessions().into(),
                    read_only: false,
                    limiter: None,
                },
            })
            .collect();
        Self { entries }
    }

    /// A file of plain keys, one per line; blank lines and `#` comments are skipped.
    pub fn load_plain(path: &Path) -> Result<Self, KeysError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: shown.clone(),
            source,
        })?;
        let keys = Self::full_access(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
        if keys.is_empty() {
            return Err(KeysError::Read {
                path: shown.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{shown} holds no API key"),
                ),
            });
        }
        Ok(keys)
    }

    /// The key specs of a YAML keys file (see the module docs).
    pub fn load(path: &Path) -> Result<Vec<KeySpec>, KeysError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: shown.clone(),
            source,
        })?;
        let file: KeysFile = serde_yaml::from_str(&text).map_err(|source| KeysError::Parse {
            path: shown,
            source,
        })?;
        Ok(file.keys)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller holding `presented`, compared in constant time against every key.
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
        self.authenticate_with_digest(presented)
            .map(|(_, caller)| caller)
    }

    /// [`Self::authenticate`], with the digest of the key (what a console cookie is bound
    /// to, so rotating the key ends its sign-ins).
    pub fn authenticate_with_digest(&self, presented: &str) -> Option<([u8; 32], Caller)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&digest)) && found.is_none() {
                found = Some((entry.digest, entry.caller.clone()));
            }
        }
        found
    }

    /// The keys called `name`, with their digests.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = ([u8; 32], Caller)> + 'a {
        self.entries
            .iter()
            .filter(move |e| &*e.caller.name == name)
            .map(|e| (e.digest, e.caller.clone()))
    }
}

/// Longest session-id pattern a key may list.
const PATTERN_MAX_LEN: usize = 128;

/// A pattern holds session-id characters and `*`, nothing else.
fn validate_pattern(pattern: &str) -> Result<(), String> {
    let ok = !pattern.is_empty()
        && pattern.len() <= PATTERN_MAX_LEN
        && pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'*'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "session pattern '{pattern}' must be 1-{PATTERN_MAX_LEN} of A-Z a-z 0-9 _ - and *"
        ))
    }
}

/// `*` matches any run of characters; everything else matches itself. Greedy with one
/// backtrack point (the last `*`), so it takes O(pattern × id) steps at worst, never the
/// exponential time of naive recursion on patterns like `a*a*a*a*b`.
pub fn glob_match(pattern: &str, id: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), id.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((star_pi, star_si)) = star {
            // Let the last `*` swallow one more character and try again from there.
            pi = star_pi + 1;
            si = star_si + 1;
            star = Some((star_pi, star_si + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, secret: &str, sessions: &[&str]) -> KeySpec {
        KeySpec {
            name: name.into(),
            secret: secret.into(),
            sessions: sessions.iter().map(|s| s.to_string()).collect(),
            read_only: false,
            rate_limit: None,
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("acme-*", "acme-1") && !glob_match("acme-*", "other-1"));
        assert!(glob_match("*-prod", "a-prod") && !glob_match("*-prod", "a-dev"));
        assert!(glob_match("exact", "exact") && !glob_match("exact", "exact2"));
        assert!(glob_match("a*b*c", "axxbyyc") && !glob_match("a*b*c", "axxc"));
        assert!(glob_match("a**", "a") && glob_match("*a*", "bab") && !glob_match("a", ""));
        assert!(glob_match("ab*", "ab") && !glob_match("ab*", "a"));
    }

    #[test]
    fn hostile_patterns_match_in_bounded_time() {
        let pattern = "a*".repeat(60) + "b";
        let id = "a".repeat(64);
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &id));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn patterns_are_validated_at_load() {
        for bad in ["", "acme/*", "a b", "é*", &"x".repeat(129)] {
            assert!(
                ApiKeySet::from_specs(vec![spec("k", "long-enough-secret", &[bad])]).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn plain_and_hashed_secrets_authenticate_their_caller() {
        let hashed = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(b"second-secret-value"))
        );
        let keys = ApiKeySet::from_specs(vec![
            spec("one", "first-secret-value", &["acme-*"]),
            spec("two", &hashed, &["*"]),
        ])
        .unwrap();
        let one = keys.authenticate("first-secret-value").unwrap();
        assert_eq!(&*one.name, "one");
        assert!(one.may_access("acme-x") && !one.may_access("globex"));
        assert_eq!(
            &*keys.authenticate("second-secret-value").unwrap().name,
            "two"
        );
        assert!(keys.authenticate("nope-nope-nope-nope").is_none());
    }

    #[test]
    fn plain_keys_see_everything() {
        let keys = ApiKeySet::full_access(["alpha", "beta"]);
        let alpha = keys.authenticate("alpha").unwrap();
        assert!(alpha.sees_all_sessions() && !alpha.read_only && alpha.check_rate().is_ok());
        assert!(keys.authenticate("beta").is_some());
        assert!(keys.authenticate("gamma").is_none() && keys.authenticate("").is_none());
    }

    #[test]
    fn rejects_weak_or_malformed_keys() {
        assert!(ApiKeySet::from_specs(vec![spec("short", "abc", &["*"])]).is_err());
        assert!(ApiKeySet::from_specs(vec![spec("bad-hash", "sha256:zz", &["*"])]).is_err());
        assert!(ApiKeySet::from_specs(vec![spec("nothing", "long-enough-secret", &[])]).is_err());
    }

    #[test]
    fn rate_limits_refuse_past_the_burst() {
        let mut limited = spec("limited", "limited-secret-value", &["*"]);
        limited.rate_limit = Some(RateLimitSpec {
            per_second: 1,
            burst: Some(2),
        });
        let keys = ApiKeySet::from_specs(vec![limited]).unwrap();
        let caller = keys.authenticate("limited-secret-value").unwrap();
        assert!(caller.check_rate().is_ok() && caller.check_rate().is_ok());
        assert!(caller.check_rate().is_err());
    }

    #[test]
    fn parses_the_documented_yaml() {
        let yaml = "keys:\n  - name: acme-app\n    secret: \"sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"\n    sessions: [\"acme-*\"]\n    readOnly: true\n    rateLimit: { perSecond: 20, burst: 40 }\n";
        let file: KeysFile = serde_yaml::from_str(yaml).unwrap();
        let keys = ApiKeySet::from_specs(file.keys).unwrap();
        assert!(!keys.is_empty());
    }
}
