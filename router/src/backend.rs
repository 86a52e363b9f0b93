//! The seam between the public API and where sessions live: in this process (`local`,
//! the embedded default) or in their own pods (`cluster`).

use async_trait::async_trait;
use tokio::sync::broadcast;
use wagate_api::{ApiError, CreateSessionRequest, GatewayEvent, SessionHost, SessionInfo};

/// What `POST /v1/sessions` did.
pub struct Created {
    pub info: SessionInfo,
    /// `false` when the session already existed (answered `200`, untouched link).
    pub new: bool,
    /// The session exists but nothing runs it yet (a pod is still to come): `202`.
    pub pending: bool,
}

#[async_trait]
pub trait SessionBackend: Send + Sync + 'static {
    /// Every session, for listing (the HTTP layer filters by key scope and status).
    async fn list(&self) -> Vec<SessionInfo>;
    /// Creates a session, or returns the existing one unchanged but for webhook/labels.
    async fn create(&self, request: CreateSessionRequest) -> Result<Created, ApiError>;
    /// The session whose linked number is `phone`, for `POST /v1/messages` with `from`.
    async fn find_by_phone(&self, phone: &str) -> Option<String>;
    /// Session `id`, if there is one.
    async fn session_info(&self, id: &str) -> Option<SessionInfo>;
    /// Where session `id` runs (`404` when there is no such session).
    async fn host(&self, id: &str) -> Result<SessionHost, ApiError>;
    /// Serves `/v1/sessions/{id}` and everything below it.
    fn session_routes(&self) -> axum::Router;
    /// Events of every session, for `GET /v1/events`.
    fn events(&self) -> broadcast::Receiver<GatewayEvent>;
    /// Stops every session gracefully.
    async fn shutdown(&self);
    /// Whether the backend can answer (the cluster backend's first list is done).
    fn is_ready(&self) -> bool {
        true
    }
}
