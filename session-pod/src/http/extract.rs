//! The extractor of the session a per-session route names.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use wagate_api::ApiError;
use wagate_http::path_session_id;

use super::HttpState;
use crate::session::Session;

/// The session named by the `{id}` path segment: `400` for a malformed id, `404` for an
/// unknown one.
pub struct SessionHandle(pub Arc<Session>);

impl FromRequestParts<HttpState> for SessionHandle {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let id = path_session_id(parts, state).await?;
        state
            .sessions
            .resolve(&id)
            .map(Self)
            .ok_or_else(|| ApiError::session_not_found(&id))
    }
}
