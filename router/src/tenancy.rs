//! Authentication and key scoping: a key never reaches a session outside its patterns,
//! a read-only key only reads, a rate-limited key gets `429` past its rate.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wagate_api::{ApiError, ErrorCode};
use wagate_session::http::auth::{is_signed_qr_link, presented_key};
use wagate_session::link::LinkSigner;

use crate::keys::ApiKeySet;

pub struct AuthState {
    pub keys: ApiKeySet,
    pub links: LinkSigner,
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

/// Routes that hand out a QR or pairing code: credentials that link a phone, so they need
/// a key that may write.
fn reads_credentials(path: &str) -> bool {
    path.strip_prefix("/v1/sessions/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, route)| {
            // Decoded as the router decodes `{*rest}` before proxying: `%71r` is `qr`.
            let route = percent_encoding::percent_decode_str(route).decode_utf8_lossy();
            let first = route.split('/').next().unwrap_or_default();
            matches!(first, "qr" | "qr-link" | "pair-code")
        })
}

/// Set on requests of read-only keys: event streams leave out `qr` events for them. It
/// can only hide, so a caller who sends it itself gains nothing.
pub const HIDE_CREDENTIALS: &str = wagate_session::http::sse::HIDE_CREDENTIALS_HEADER;

pub async fn authenticate(
    State(auth): State<Arc<AuthState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match presented_key(request.headers()) {
        Some(key) => match auth.keys.authenticate(key) {
            Some(caller) => caller,
            None => {
                return ApiError::forbidden("The API key is not valid for this gateway")
                    .into_response();
            }
        },
        None if is_signed_qr_link(&auth.links, request.method(), request.uri()) => {
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
    match request.extensions().get::<crate::keys::Caller>() {
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
    use super::{path_session, reads_credentials, session_in_path};

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
        ] {
            assert!(reads_credentials(path), "{path}");
        }
        assert!(
            !reads_credentials("/v1/sessions/a") && !reads_credentials("/v1/sessions/a/messages")
        );
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
