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

/// The session id a path names, if any (`/v1/sessions/{id}[/...]`).
pub fn session_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/sessions/")?
        .split('/')
        .next()
        .filter(|id| !id.is_empty())
}

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
    let method = request.method();
    if caller.read_only && method != http::Method::GET && method != http::Method::HEAD {
        return ApiError::forbidden(format!("Key '{}' is read-only", caller.name)).into_response();
    }
    if let Some(id) = session_in_path(request.uri().path())
        && !caller.may_access(id)
    {
        return ApiError::forbidden(format!(
            "Key '{}' may not access session '{id}'",
            caller.name
        ))
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::session_in_path;

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
