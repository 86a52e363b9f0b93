//! `/v1/sessions/{id}/...` in cluster mode. The router answers what lives in the resource
//! (the session itself, delete, webhook, QR links it signs); everything else goes to the
//! session's pod byte for byte.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{any, get, post, put};
use wagate_api::{ApiError, DeleteResponse, QrLinkResponse, SessionInfo, WebhookConfig};
use wagate_session::http::{
    ApiJson, ApiQuery, DeleteQuery, LinkQuery, path_session_id, signed_qr_link,
};

use super::Shared;
use super::index::Entry;
use super::pod_client::not_ready;

pub fn session_routes(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/v1/sessions/{id}", get(get_session).delete(delete_session))
        .route(
            "/v1/sessions/{id}/webhook",
            put(put_webhook).delete(delete_webhook),
        )
        .route("/v1/sessions/{id}/qr-link", post(qr_link))
        .route("/v1/sessions/{id}/{*rest}", any(proxy))
        .with_state(shared)
}

/// The session named by `{id}`: `400` for a malformed id, `404` for one the index does not
/// know (or that is being deleted).
struct Session(Entry);

impl FromRequestParts<Arc<Shared>> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let id = path_session_id(parts, shared).await?;
        shared.index_ready().await?;
        shared
            .index
            .find(&id)
            .map(Self)
            .ok_or_else(|| ApiError::session_not_found(&id))
    }
}

async fn get_session(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
) -> Json<SessionInfo> {
    Json(shared.fresh_info(&entry).await)
}

async fn delete_session(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<DeleteResponse>, ApiError> {
    shared.delete(&entry, query.purge).await?;
    Ok(Json(DeleteResponse {
        deleted: true,
        purged: query.purge,
    }))
}

async fn put_webhook(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
    ApiJson(config): ApiJson<WebhookConfig>,
) -> Result<Json<SessionInfo>, ApiError> {
    shared.set_webhook(&entry, Some(&config)).await.map(Json)
}

async fn delete_webhook(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
) -> Result<Json<SessionInfo>, ApiError> {
    shared.set_webhook(&entry, None).await.map(Json)
}

async fn qr_link(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
    ApiQuery(query): ApiQuery<LinkQuery>,
) -> Result<Json<QrLinkResponse>, ApiError> {
    let config = &shared.config;
    signed_qr_link(
        &config.links,
        &config.public_url,
        &entry.session_id(),
        query.ttl,
    )
    .map(Json)
}

/// Everything else: to the ready pod, streaming; `503` at once when there is none.
async fn proxy(
    State(shared): State<Arc<Shared>>,
    Session(entry): Session,
    request: Request,
) -> Result<Response, ApiError> {
    let id = entry.session_id();
    let pod = entry
        .pod
        .as_ref()
        .ok_or_else(|| not_ready(&id, &entry.phase()))?;
    shared.pods.forward(&id, pod, request).await
}
