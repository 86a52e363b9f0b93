//! The per-session HTTP API (`/v1/sessions/{id}/...`), written once: the session binary
//! serves it for its one session and the router mounts it for in-process sessions.

mod contacts;
mod error;
mod extract;
mod groups;
mod handlers;
pub mod openapi;
mod profile;
mod qr;
pub mod records;
mod sandbox;
pub mod sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use wagate_api::MediaLimits;

pub use extract::SessionHandle;
pub use qr::{LinkQuery, signed_qr_link};
pub use records::{DeleteQuery, InProcessRecords, RecordsState, SessionRecords, record_routes};

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

/// The `/v1/sessions/{id}/...` routes of in-process sessions: the record routes (owned by
/// the session itself here) and the routes only a running session answers.
pub fn session_routes(state: HttpState) -> Router {
    let body_limit = send_body_limit(&state.limits);
    let records = record_routes(RecordsState {
        records: Arc::new(InProcessRecords(state.sessions.clone())),
        links: state.links.clone(),
        public_url: state.public_url.clone(),
    });
    running_session_routes()
        .with_state(state)
        .merge(records)
        .layer(DefaultBodyLimit::max(body_limit))
}

/// The routes that need the running session (its engine, outbox, queues and files): in
/// cluster mode the router forwards these to the session's pod.
fn running_session_routes() -> Router<HttpState> {
    Router::new()
        .route("/v1/sessions/{id}/logout", post(handlers::logout))
        .route("/v1/sessions/{id}/restart", post(handlers::restart))
        .route("/v1/sessions/{id}/qr", get(qr::get_qr))
        .route("/v1/sessions/{id}/pair-code", post(handlers::pair_code))
        .route(
            "/v1/sessions/{id}/messages",
            post(handlers::send).get(handlers::list_messages),
        )
        .route("/v1/sessions/{id}/stats", get(handlers::stats))
        .route(
            "/v1/sessions/{id}/messages/{message_id}",
            get(handlers::message_status)
                .patch(handlers::edit_message)
                .delete(handlers::revoke),
        )
        .route(
            "/v1/sessions/{id}/messages/{message_id}/reaction",
            post(handlers::react),
        )
        .route(
            "/v1/sessions/{id}/chats/{chat}/read",
            post(handlers::mark_read),
        )
        .route(
            "/v1/sessions/{id}/chats/{chat}/presence",
            post(handlers::chat_presence),
        )
        .route(
            "/v1/sessions/{id}/presence",
            axum::routing::put(handlers::presence),
        )
        .route(
            "/v1/sessions/{id}/check-numbers",
            post(handlers::check_numbers),
        )
        .route(
            "/v1/sessions/{id}/groups",
            get(handlers::groups).post(groups::create_group),
        )
        .route("/v1/sessions/{id}/groups/join", post(groups::join_group))
        .route("/v1/sessions/{id}/contacts/{who}", get(contacts::contact))
        .route("/v1/sessions/{id}/lids/{lid}", get(contacts::lid))
        .route(
            "/v1/sessions/{id}/contacts/{who}/block",
            post(profile::block).delete(profile::unblock),
        )
        .route("/v1/sessions/{id}/blocklist", get(profile::blocklist))
        .route(
            "/v1/sessions/{id}/profile",
            get(profile::profile).patch(profile::update_profile),
        )
        .route(
            "/v1/sessions/{id}/profile/picture",
            axum::routing::put(profile::set_picture).delete(profile::remove_picture),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}",
            get(groups::group_info).patch(groups::update_group),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/participants",
            post(groups::participants),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/invite-link",
            get(groups::invite_link).delete(groups::revoke_invite_link),
        )
        .route(
            "/v1/sessions/{id}/groups/{group}/leave",
            post(groups::leave_group),
        )
        .route(
            "/v1/sessions/{id}/webhook/deliveries",
            get(handlers::pending_deliveries),
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
}
