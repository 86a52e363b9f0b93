//! The per-session routes about the session's record rather than its WhatsApp connection:
//! its info, its deletion, its webhook, and signed QR links. Written once; what differs
//! between backends is only who owns the record ([`SessionRecords`]): the session itself
//! (the session binary and the local router), or its `WhatsAppSession` resource (the
//! cluster router, where the pod only follows the resource).

use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::routing::{get, post, put};
use wagate_api::{
    ApiError, DeleteResponse, QrLinkResponse, SessionInfo, SessionSettings, WebhookConfig,
};
use wagate_http::auth::LinkSigner;
use wagate_http::{ApiJson, ApiQuery, path_session_id};

use super::SessionResolver;
use super::qr::{LinkQuery, signed_qr_link};

/// Who owns a session's record. Every method answers `404 session_not_found` for a session
/// it does not know. Settings and labels of a session join here as routes are added for them.
#[async_trait]
pub trait SessionRecords: Send + Sync + 'static {
    /// Fails when the session does not exist.
    async fn ensure_exists(&self, id: &str) -> Result<(), ApiError>;
    async fn info(&self, id: &str) -> Result<SessionInfo, ApiError>;
    /// Stops the session for good; `purge` also unlinks it and deletes its data.
    async fn delete(&self, id: &str, purge: bool) -> Result<(), ApiError>;
    /// Sets (`Some`) or removes (`None`) the session's own webhook; answers the new info.
    async fn set_webhook(
        &self,
        id: &str,
        webhook: Option<WebhookConfig>,
    ) -> Result<SessionInfo, ApiError>;
    /// Replaces the session's behaviour settings (already validated); answers the new info.
    async fn set_settings(
        &self,
        id: &str,
        settings: SessionSettings,
    ) -> Result<SessionInfo, ApiError>;
}

/// Records owned by in-process sessions.
pub struct InProcessRecords(pub Arc<dyn SessionResolver>);

impl InProcessRecords {
    fn session(&self, id: &str) -> Result<Arc<crate::Session>, ApiError> {
        self.0
            .resolve(id)
            .ok_or_else(|| ApiError::session_not_found(id))
    }
}

#[async_trait]
impl SessionRecords for InProcessRecords {
    async fn ensure_exists(&self, id: &str) -> Result<(), ApiError> {
        self.session(id).map(drop)
    }

    async fn info(&self, id: &str) -> Result<SessionInfo, ApiError> {
        Ok(self.session(id)?.info().await)
    }

    async fn delete(&self, id: &str, purge: bool) -> Result<(), ApiError> {
        self.session(id)?.delete(purge).await?;
        self.0.removed(id);
        Ok(())
    }

    async fn set_webhook(
        &self,
        id: &str,
        webhook: Option<WebhookConfig>,
    ) -> Result<SessionInfo, ApiError> {
        let session = self.session(id)?;
        if let Some(webhook) = &webhook {
            session.config().egress.policy().check_webhook(webhook)?;
        }
        Ok(session.set_webhook(webhook).await?)
    }

    async fn set_settings(
        &self,
        id: &str,
        settings: SessionSettings,
    ) -> Result<SessionInfo, ApiError> {
        Ok(self.session(id)?.set_settings(settings).await?)
    }
}

/// State of the record routes.
#[derive(Clone)]
pub struct RecordsState {
    pub records: Arc<dyn SessionRecords>,
    pub links: LinkSigner,
    /// Prefix of links handed out (`https://wa.example.com`); empty = relative.
    pub public_url: String,
}

/// `GET`/`DELETE /v1/sessions/{id}`, `PUT`/`DELETE .../webhook`, `POST .../qr-link`.
pub fn record_routes(state: RecordsState) -> axum::Router {
    axum::Router::new()
        .route("/v1/sessions/{id}", get(get_session).delete(delete_session))
        .route(
            "/v1/sessions/{id}/webhook",
            put(put_webhook).delete(delete_webhook),
        )
        .route("/v1/sessions/{id}/settings", put(put_settings))
        .route("/v1/sessions/{id}/qr-link", post(create_link))
        .with_state(state)
}

/// The validated `{id}` of the path (`400` when malformed).
pub(super) struct PathId(String);

impl axum::extract::FromRequestParts<RecordsState> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &RecordsState,
    ) -> Result<Self, Self::Rejection> {
        path_session_id(parts, state).await.map(Self)
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also unlink the device and delete the session's stored data.
    #[serde(default)]
    pub purge: bool,
}

#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::SessionInfo), super::openapi::ErrorResponses))]
pub(super) async fn get_session(
    State(state): State<RecordsState>,
    PathId(id): PathId,
) -> Result<Json<SessionInfo>, ApiError> {
    state.records.info(&id).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), DeleteQuery), responses((status = 200, body = wagate_api::DeleteResponse), super::openapi::ErrorResponses))]
pub(super) async fn delete_session(
    State(state): State<RecordsState>,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<DeleteResponse>, ApiError> {
    state.records.delete(&id, query.purge).await?;
    Ok(Json(DeleteResponse {
        deleted: true,
        purged: query.purge,
    }))
}

#[utoipa::path(put, path = "/v1/sessions/{id}/webhook", tag = "webhooks", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::WebhookConfig, responses((status = 200, body = wagate_api::SessionInfo), super::openapi::ErrorResponses))]
pub(super) async fn put_webhook(
    State(state): State<RecordsState>,
    PathId(id): PathId,
    ApiJson(body): ApiJson<WebhookConfig>,
) -> Result<Json<SessionInfo>, ApiError> {
    state.records.set_webhook(&id, Some(body)).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/sessions/{id}/webhook", tag = "webhooks", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::SessionInfo), super::openapi::ErrorResponses))]
pub(super) async fn delete_webhook(
    State(state): State<RecordsState>,
    PathId(id): PathId,
) -> Result<Json<SessionInfo>, ApiError> {
    state.records.set_webhook(&id, None).await.map(Json)
}

/// Replaces the session's behaviour settings (fields left out are off). In cluster mode
/// they go to the resource's `spec.settings`, and the pod is rolled onto them.
#[utoipa::path(put, path = "/v1/sessions/{id}/settings", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::SessionSettings, responses((status = 200, body = wagate_api::SessionInfo), super::openapi::ErrorResponses))]
pub(super) async fn put_settings(
    State(state): State<RecordsState>,
    PathId(id): PathId,
    // An object, not any JSON serde would take for the struct (`[]` is all defaults to it).
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<SessionInfo>, ApiError> {
    let body: SessionSettings = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| ApiError::field("body", e.to_string()))?;
    body.validate()?;
    state.records.set_settings(&id, body).await.map(Json)
}

#[utoipa::path(post, path = "/v1/sessions/{id}/qr-link", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), LinkQuery), responses((status = 200, body = wagate_api::QrLinkResponse), super::openapi::ErrorResponses))]
pub(super) async fn create_link(
    State(state): State<RecordsState>,
    PathId(id): PathId,
    ApiQuery(query): ApiQuery<LinkQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Json<QrLinkResponse>, ApiError> {
    state.records.ensure_exists(&id).await?;
    super::sse::refuse_if_hidden(&headers)?;
    signed_qr_link(&state.links, &state.public_url, &id, query.ttl).map(Json)
}
