//! The routes that span sessions: list, create, send-by-body, the all-sessions stream.
//! Everything under `/v1/sessions/{id}` is the session crate's router, mounted as is.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;
use tower::ServiceExt;
use wagate_api::{
    ApiError, CreateSessionRequest, SendRequest, SessionList, SessionState, normalize_phone,
};
use wagate_http::{ApiJson, ApiQuery};
use wagate_session::http::sse::to_sse;

use crate::backend::SessionBackend;
use wagate_http::auth::Caller;

#[derive(Clone)]
pub struct RouterState {
    pub backend: Arc<dyn SessionBackend>,
    /// The per-session routes, for dispatching `POST /v1/messages` to its session.
    pub session_routes: Router,
    /// The same body limit as the per-session send.
    pub send_body_limit: usize,
}

pub fn collection_routes(state: RouterState) -> Router {
    let send_limit = axum::extract::DefaultBodyLimit::max(state.send_body_limit);
    Router::new()
        .route("/v1/sessions", get(list).post(create))
        .route("/v1/messages", post(send_by_body).layer(send_limit))
        .route("/v1/events", get(all_events))
        .route("/v1/sessions/{id}/host", get(host))
        .with_state(state)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sessions in this state (`connected`, `qr`, ...).
    status: Option<String>,
}

#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(ListQuery), responses((status = 200, body = SessionList), wagate_session::http::openapi::ErrorResponses))]
async fn list(
    State(state): State<RouterState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<SessionList>, ApiError> {
    let status: Option<SessionState> = query.status.as_deref().map(str::parse).transpose()?;
    let sessions = state
        .backend
        .list()
        .await
        .into_iter()
        .filter(|s| caller.may_access(&s.session_id) && status.is_none_or(|st| s.status == st))
        .collect();
    Ok(Json(SessionList { sessions }))
}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = CreateSessionRequest, responses((status = 201, description = "Created", body = wagate_api::SessionInfo), (status = 200, description = "Already existed (left as it was, webhook and labels updated)", body = wagate_api::SessionInfo), (status = 202, description = "Created on Kubernetes; its pod is still coming (status `starting`)", body = wagate_api::SessionInfo), wagate_session::http::openapi::ErrorResponses))]
async fn create(
    State(state): State<RouterState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CreateSessionRequest>,
) -> Result<Response, ApiError> {
    let id = request.session_id.as_str().to_string();
    if !caller.may_access(&id) {
        return Err(ApiError::forbidden(format!(
            "Key '{}' may not create session '{id}'",
            caller.name
        )));
    }
    let created = state.backend.create(request).await?;
    let status = match (created.new, created.pending) {
        (_, true) => StatusCode::ACCEPTED,
        (true, false) => StatusCode::CREATED,
        (false, false) => StatusCode::OK,
    };
    Ok((status, Json(created.info)).into_response())
}

/// Where the session runs: this process (`local`), or its resource, pod, conditions and
/// Kubernetes events (`cluster`).
#[utoipa::path(get, path = "/v1/sessions/{id}/host", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::SessionHost), wagate_session::http::openapi::ErrorResponses))]
async fn host(
    State(state): State<RouterState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<wagate_api::SessionHost>, ApiError> {
    wagate_api::validate_session_id(&id)?;
    Ok(Json(state.backend.host(&id).await?))
}

/// `POST /v1/messages`: the session comes from `sessionId`, or from `from` (its linked
/// number); the request then goes through the session's own send route.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", request_body(content = SendRequest, description = "A send with `sessionId`, or `from` = the linked number of the session"), params(("async" = Option<bool>, Query, description = "Answer `202` once queued")), responses((status = 200, body = wagate_api::SendResult), (status = 202, body = wagate_api::SendResult), wagate_session::http::openapi::ErrorResponses))]
async fn send_by_body(
    State(state): State<RouterState>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let ApiJson(send): ApiJson<SendRequest> =
        ApiJson::from_request(Request::from_parts(parts.clone(), body), &()).await?;
    let id = match (&send.session_id, &send.from) {
        (Some(id), _) => {
            wagate_api::validate_session_id(id)?;
            id.clone()
        }
        (None, Some(from)) => {
            let phone = normalize_phone(from).ok_or_else(|| {
                ApiError::field("from", "must be the linked phone number of a session")
            })?;
            let found = state.backend.find_by_phone(&phone).await;
            match found.filter(|id| caller.may_access(id)) {
                Some(id) => id,
                None => {
                    return Err(ApiError::new(
                        wagate_api::ErrorCode::SessionNotFound,
                        format!("No session is linked to {phone}"),
                    ));
                }
            }
        }
        (None, None) => {
            return Err(ApiError::field(
                "sessionId",
                "give 'sessionId' or 'from' to choose the session",
            ));
        }
    };
    if !caller.may_access(&id) {
        return Err(ApiError::forbidden(format!(
            "Key '{}' may not access session '{id}'",
            caller.name
        )));
    }
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let uri: http::Uri = format!("/v1/sessions/{id}/messages{query}")
        .parse()
        .map_err(|_| ApiError::field("sessionId", "is not usable in a path"))?;
    let mut inner = http::Request::builder().method(http::Method::POST).uri(uri);
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            inner = inner.header(name, value);
        }
    }
    let body = serde_json::to_vec(&send).expect("SendRequest serializes");
    let inner = inner
        .body(axum::body::Body::from(body))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(state
        .session_routes
        .oneshot(inner)
        .await
        .unwrap_or_else(|never| match never {}))
}

/// Every session's events that the caller may see.
#[utoipa::path(get, path = "/v1/events", tag = "events", responses((status = 200, description = "`text/event-stream` of every session the key may see", content_type = "text/event-stream", body = String), wagate_session::http::openapi::ErrorResponses))]
async fn all_events(
    State(state): State<RouterState>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(state.backend.events()).filter_map(move |item| {
        let caller = caller.clone();
        async move {
            match item {
                // A QR is a credential: read-only keys do not see it.
                Ok(event) if caller.read_only && event.event == wagate_api::EventKind::Qr => None,
                Ok(event) if caller.may_access(&event.session_id) => Some(Ok(to_sse(&event))),
                Ok(_) => None,
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                    Some(Ok(Event::default().event("lagged").data(n.to_string())))
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, send_by_body, all_events, host))]
struct CollectionApiDoc;

/// The whole public API: the collection routes plus every per-session route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = wagate_session::http::openapi::SessionApiDoc::openapi();
    doc.merge(CollectionApiDoc::openapi());
    doc
}
