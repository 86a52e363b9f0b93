//! API-key auth of the session API. Keys are kept as SHA-256 digests and compared in
//! constant time; a signed QR link opens only the QR page it was made for.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wagate_api::ApiError;

use crate::link::LinkSigner;

/// The keys a session API accepts.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl ApiKeys {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) -> Self {
        Self {
            digests: secrets
                .into_iter()
                .map(|s| Sha256::digest(s.as_ref().as_bytes()).into())
                .collect(),
        }
    }

    /// One key per line; blank lines and `#` comments are skipped.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let keys = Self::new(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
        if keys.digests.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds no API key", path.display()),
            ));
        }
        Ok(keys)
    }

    /// Compares against every key without stopping early, so timing says nothing.
    pub fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(&digest)
            })
            .into()
    }
}

/// The key a request presents: `Authorization: Bearer <key>` or `x-api-key: <key>`.
pub fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some(bearer.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// True for `GET /v1/sessions/{id}/qr?...&exp=..&sig=..` signed for that session.
pub fn is_signed_qr_link(links: &LinkSigner, method: &http::Method, uri: &http::Uri) -> bool {
    if method != http::Method::GET {
        return false;
    }
    let Some(session_id) = uri
        .path()
        .strip_prefix("/v1/sessions/")
        .and_then(|rest| rest.strip_suffix("/qr"))
    else {
        return false;
    };
    let (mut exp, mut sig) = (None, None);
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("exp", v)) => exp = v.parse::<i64>().ok(),
            Some(("sig", v)) => sig = Some(v),
            _ => {}
        }
    }
    match (exp, sig) {
        (Some(exp), Some(sig)) => links.verify(session_id, exp, sig, Utc::now()),
        _ => false,
    }
}

/// Auth state of the session binary.
pub struct KeyAuth {
    pub keys: ApiKeys,
    pub links: LinkSigner,
}

/// `401` without a key, `403` with a wrong one; signed QR links pass.
pub async fn require_key(
    State(auth): State<Arc<KeyAuth>>,
    request: Request,
    next: Next,
) -> Response {
    match presented_key(request.headers()) {
        Some(key) if auth.keys.accepts(key) => next.run(request).await,
        Some(_) => ApiError::forbidden("The API key is not valid for this gateway").into_response(),
        None if is_signed_qr_link(&auth.links, request.method(), request.uri()) => {
            next.run(request).await
        }
        None if request.uri().query().is_some_and(|q| q.contains("sig=")) => {
            ApiError::forbidden("The QR link is invalid or has expired").into_response()
        }
        None => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_known_keys() {
        let keys = ApiKeys::new(["alpha", "beta"]);
        assert!(keys.accepts("alpha") && keys.accepts("beta"));
        assert!(!keys.accepts("gamma") && !keys.accepts(""));
    }

    #[test]
    fn reads_bearer_and_x_api_key() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-api-key", "k1".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("k1"));
        headers.insert(http::header::AUTHORIZATION, "Bearer k2".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("k2"));
    }

    #[test]
    fn signed_links_open_only_their_qr_page() {
        let links = LinkSigner::new(b"secret".to_vec());
        let query = links.sign("s1", Utc::now() + chrono::Duration::minutes(1));
        let ok: http::Uri = format!("/v1/sessions/s1/qr?format=html&{query}")
            .parse()
            .unwrap();
        assert!(is_signed_qr_link(&links, &http::Method::GET, &ok));
        let other: http::Uri = format!("/v1/sessions/s2/qr?format=html&{query}")
            .parse()
            .unwrap();
        assert!(!is_signed_qr_link(&links, &http::Method::GET, &other));
        let send: http::Uri = format!("/v1/sessions/s1/messages?{query}").parse().unwrap();
        assert!(!is_signed_qr_link(&links, &http::Method::POST, &send));
    }
}
