//! The one auth layer of every binary that serves the contract: API keys kept as
//! digests ([`keys`]), each scoped to session patterns; a key never reaches a session
//! outside its patterns, a read-only key only reads, a rate-limited key gets `429` past its
//! rate, and a signed QR link ([`link`]) opens only the QR page it was made for.

pub mod console;
pub mod keys;
pub mod link;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use wagate_api::{ApiError, ErrorCode};

pub use console::{ConsoleAuthError, ConsoleSessions, ConsoleUser};
pub use keys::{ApiKeySet, Caller, KeySpec, KeysError, RateLimitSpec};
pub use link::LinkSigner;

/// What [`authenticate`] checks requests against.
pub struct AuthState {
    pub keys: ApiKeySet,
    pub links: LinkSigner,
    /// The web console's sign-ins (the router's); `None` where there is no console.
    pub console: Option<Arc<ConsoleSessions>>,
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

/// The session id a path names, if any (`/v1/sessions/{id}[/...]`), as written (still
/// percent-encoded).
pub fn session_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/sessions/")?
        .split('/')
        .next()
        .filter(|id| !id.is_empty())
}

/// The decoded, validated session id of a path: scope is matched on what the handlers
/// will see, never on the raw text.
fn path_session(path: &str) -> Result<Option<String>, ApiError> {
    let Some(raw) = session_in_path(path) else {
        return Ok(None);
    };
    let id = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    wagate_api::validate_session_id(&id)?;
    Ok(Some(id.into_owned()))
}

/// Routes that hand out a credential, so they need a key that may write: a QR or pairing
/// code links a phone; a group's invite link lets anyone in (and shows them its members).
fn reads_credentials(path: &str) -> bool {
    path.strip_prefix("/v1/sessions/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, route)| {
            // Decoded as the router decodes `{*rest}` before proxying: `%71r` is `qr`.
            let route = percent_encoding::percent_decode_str(route).decode_utf8_lossy();
            let segments: Vec<&str> = route.split('/').collect();
            matches!(
                segments.as_slice(),
                ["qr" | "qr-link" | "pair-code", ..] | ["groups", _, "invite-link", ..]
            )
        })
}

/// Set on requests of read-only keys: event streams leave out `qr` events for them. It
/// can only hide, so a caller who sends it itself gains nothing; the router forwards it to
/// session pods, whose own key (the internal token) never sets it.
pub const HIDE_CREDENTIALS: &str = "x-wagate-hide-credentials";

/// Authenticates, rate-limits and scopes a request; the [`Caller`] is left in its
/// extensions for handlers that filter by scope.
pub async fn authenticate(
    State(auth): State<Arc<AuthState>>,
    mut request: Request,
    next: Next,
) -> Response {
    // A signed QR link opens its page whatever cookie the browser holds.
    let signed_link = presented_key(request.headers()).is_none()
        && is_signed_qr_link(&auth.links, request.method(), request.uri());
    let console_user = match (&auth.console, presented_key(request.headers())) {
        (Some(console), None) if !signed_link => {
            console.user(&auth.keys, request.headers(), Utc::now())
        }
        _ => None,
    };
    let caller = match presented_key(request.headers()) {
        Some(key) => match auth.keys.authenticate(key) {
            Some(caller) => caller,
            None => {
                return ApiError::forbidden("The API key is not valid for this gateway")
                    .into_response();
            }
        },
        None if console_user.is_some() => {
            let console = auth.console.as_ref().expect("a console user has a console");
            let checked = console_user.expect("checked above").and_then(|user| {
                let method = request.method();
                if method == http::Method::GET || method == http::Method::HEAD {
                    Ok(user)
                } else {
                    console.check_csrf(&user, request.headers()).map(|()| user)
                }
            });
            match checked {
                Ok(user) => user.caller,
                Err(e @ ConsoleAuthError::SignedOut) => {
                    return ApiError::new(ErrorCode::Unauthorized, e.to_string()).into_response();
                }
                Err(e @ ConsoleAuthError::MissingCsrf) => {
                    return ApiError::forbidden(e.to_string()).into_response();
                }
            }
        }
        None if signed_link => {
            return next.run(request).await;
        }
        None if request.uri().query().is_some_and(|q| q.contains("sig=")) => {
            return ApiError::forbidden("The QR link is invalid or has expired").into_response();
        }
        None => return ApiError::unauthorized().into_response(),
    };
    if let Err(wait) = caller.check_rate() {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return ApiError::new(
            ErrorCode::RateLimited,
            format!("Key '{}' is over its rate limit", caller.name),
        )
        .with_retry_after(seconds.max(1))
        .into_response();
    }
    let path = request.uri().path();
    let method = request.method();
    if caller.read_only && method != http::Method::GET && method != http::Method::HEAD {
        return ApiError::forbidden(format!("Key '{}' is read-only", caller.name)).into_response();
    }
    if caller.read_only && reads_credentials(path) {
        return ApiError::forbidden(format!(
            "Key '{}' is read-only; QR and pairing codes need a key that may write",
            caller.name
        ))
        .into_response();
    }
    let id = match path_session(path) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if let Some(id) = id
        && !caller.may_access(&id)
    {
        return ApiError::forbidden(format!(
            "Key '{}' may not access session '{id}'",
            caller.name
        ))
        .into_response();
    }
    if caller.read_only {
        request
            .headers_mut()
            .insert(HIDE_CREDENTIALS, http::HeaderValue::from_static("1"));
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// `/metrics` on the API port names every session: only a key that sees all of them may
/// read it (Prometheus sends one as a bearer token; or use `--metrics-listen`).
pub async fn require_all_sessions(request: Request, next: Next) -> Response {
    match request.extensions().get::<Caller>() {
        Some(caller) if caller.sees_all_sessions() => next.run(request).await,
        Some(caller) => ApiError::forbidden(format!(
            "Key '{}' does not see every session, so it may not read /metrics",
            caller.name
        ))
        .into_response(),
        None => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn scope_is_matched_on_the_decoded_id() {
        assert_eq!(
            path_session("/v1/sessions/acme%2D1/qr").unwrap().as_deref(),
            Some("acme-1")
        );
        assert!(path_session("/v1/sessions/acme%2E/qr").is_err());
        assert!(path_session("/v1/sessions/acme%00x").is_err());
        assert_eq!(path_session("/v1/messages").unwrap(), None);
    }

    #[test]
    fn qr_routes_are_credentials() {
        for path in [
            "/v1/sessions/a/qr",
            "/v1/sessions/a/qr-link",
            "/v1/sessions/a/pair-code",
            "/v1/sessions/a/%71r",
            "/v1/sessions/a/qr%2Dlink",
            "/v1/sessions/a/qr/",
            "/v1/sessions/a/groups/120363000000000001@g.us/invite-link",
            "/v1/sessions/a/groups/120363000000000001%40g.us/invite%2Dlink",
        ] {
            assert!(reads_credentials(path), "{path}");
        }
        for path in [
            "/v1/sessions/a",
            "/v1/sessions/a/messages",
            "/v1/sessions/a/groups/120363000000000001@g.us",
        ] {
            assert!(!reads_credentials(path), "{path}");
        }
    }

    #[test]
    fn finds_the_session_of_a_path() {
        assert_eq!(
            session_in_path("/v1/sessions/acme-1/messages"),
            Some("acme-1")
        );
        assert_eq!(session_in_path("/v1/sessions/acme-1"), Some("acme-1"));
        assert_eq!(session_in_path("/v1/sessions"), None);
        assert_eq!(session_in_path("/v1/sessions/"), None);
        assert_eq!(session_in_path("/v1/messages"), None);
    }
}
