//! The web console at `/ui`: server-rendered pages (askama templates) with one small
//! embedded script for the live parts. Sign-in exchanges an API key for a signed,
//! `HttpOnly`, `SameSite=Strict` cookie; from then on the pages call the public `/v1`
//! contract with that cookie (plus a CSRF header on changes), so the console can do
//! nothing an API key could not, and shows nothing its key may not see.

mod assets;
mod pages;
mod security;
mod sign_in;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use wagate_http::auth::AuthState;

use crate::backend::SessionBackend;

/// What the console's handlers need.
#[derive(Clone)]
pub struct UiState {
    pub backend: Arc<dyn SessionBackend>,
    /// The keys and the console's cookie signer (shared with the API's auth layer).
    pub auth: Arc<AuthState>,
    /// `local` or `cluster`: the session page shows the pod panel in cluster mode.
    pub cluster: bool,
}

/// `/ui` and everything below it.
pub fn routes(state: UiState) -> Router {
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/login", get(sign_in::login_page).post(sign_in::login))
        .route("/ui/logout", axum::routing::post(sign_in::logout))
        .route("/ui/sessions", get(pages::sessions))
        .route("/ui/sessions/{id}", get(pages::session))
        .route("/ui/assets/{name}", get(assets::serve))
        .with_state(state)
        .layer(axum::middleware::from_fn(security::headers))
        // Pages of 1,000 sessions and the script shrink about tenfold.
        .layer(tower_http::compression::CompressionLayer::new())
}
