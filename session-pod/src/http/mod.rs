//! The per-session HTTP API (`/v1/sessions/{id}/...`), written once: the session binary
//! serves it for its one session and the router mounts it for in-process sessions.

mod extract;
mod handlers;
pub mod openapi;
mod qr;
mod sandbox;
pub mod sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use wagate_api::MediaLimits;

pub use extract::SessionHandle;
pub use handlers::DeleteQuery;
pub use qr::{LinkQuery, signed_qr_link};

use crate::session::Session;
use wagate_http::auth::LinkSigner;

/// Finds the session a request names. Implemented by the session binary (one session)
/// and by the router's local backend (many).
pub trait SessionResolver: Send + Sync + 'static {
    fn resolve(&self, id: &str) -> Option<Arc<Session>>;
    /// Called after a `DELETE` stopped the session.
    fn removed(&self, id: &str);
}

/// Shared state of the per-session routes.
#[derive(Clone)]
pub struct HttpState {
    pub sessions: Arc<dyn SessionResolver>,
    pub links: LinkSigner,
    pub limits: MediaLimits,
    /// Prefix of links handed out (`https://wa.example.com`); empty = relative.
    pub public_url: String,
}

/// Largest request body of a send: inline media arrives base64-encoded inside JSON, so 4/3
/// of the cap plus headroom. Every route that takes a send uses it.
pub fn send_body_limit(limits: &MediaLimits) -> usize {
    limits.inline_max_bytes / 3 * 4 + 1024 * 1024
}

/// The `/v1/sessions/{id}/...` routes (and `GET`/`DELETE` of the session itself).
pub fn session_routes(state: HttpState) -> Router {
    let body_limit = send_body_limit(&state.limits);
    Router::new()
        .route(
            "/v1/sessions/{id}",
            get(handlers::get_session).delete(handlers::delete_session),
        )
        .route("/v1/sessions/{id}/logout", post(handlers::logout))
        .route("/v1/sessions/{id}/restart", post(handlers::restart))
        .route("/v1/sessions/{id}/qr", get(qr::get_qr))
        .route("/v1/sessions/{id}/qr-link", post(qr::create_link))
        .route("/v1/sessions/{id}/pair-code", post(handlers::pair_code))
        .route("/v1/sessions/{id}/messages", post(handlers::send))
        .route(
            "/v1/sessions/{id}/messages/{message_id}",
            get(handlers::message_status),
        )
        .route(
            "/v1/sessions/{id}/check-numbers",
            post(handlers::check_numbers),
        )
        .route("/v1/sessions/{id}/groups", get(handlers::groups))
        .route(
            "/v1/sessions/{id}/webhook",
            axum::routing::put(handlers::put_webhook).delete(handlers::delete_webhook),
        )
        .route(
            "/v1/sessions/{id}/webhook/dead-letters",
            get(handlers::dead_letters),
        )
        .route(
            "/v1/sessions/{id}/webhook/dead-letters/replay",
            post(handlers::replay_dead_letters),
        )
        .route("/v1/sessions/{id}/events", get(sse::events))
        .route("/v1/sessions/{id}/media/{message_id}", get(handlers::media))
        .merge(sandbox::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
