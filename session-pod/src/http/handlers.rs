//! Handlers of the per-session routes: parse, validate at the edge, call the session.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use wagate_api::{
    ApiError, CheckNumbersRequest, DeleteResponse, ErrorCode, MessageStatus, OkResponse,
    PairCodeRequest, SendRequest, WebhookConfig,
};

use super::{ApiJson, HttpState, SessionHandle};

pub async fn get_session(SessionHandle(session): SessionHandle) -> impl IntoResponse {
    Json(session.info().await)
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    purge: bool,
}

pub async fn delete_session(
    State(state): State<HttpState>,
    SessionHandle(session): SessionHandle,
    Query(query): Query<DeleteQuery>,
) -> Result<Json<DeleteResponse>, ApiError> {
    session.delete(query.purge).await?;
    state.sessions.removed(session.id());
    Ok(Json(DeleteResponse {
        deleted: true,
        purged: query.purge,
    }))
}

pub async fn logout(SessionHandle(session): SessionHandle) -> Result<Json<OkResponse>, ApiError> {
    session.logout().await?;
    Ok(Json(OkResponse { ok: true }))
}

pub async fn restart(SessionHandle(session): SessionHandle) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.restart().await?))
}

pub async fn pair_code(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<PairCodeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.pair_code(&body.phone).await?))
}

#[derive(Deserialize)]
pub struct SendQuery {
    #[serde(default, rename = "async")]
    is_async: bool,
}

/// `200` once WhatsApp accepted the message, `202` when queued (`?async=true`, or still
/// queued when the wait ran out); a message that failed answers with its error.
pub async fn send(
    State(state): State<HttpState>,
    SessionHandle(session): SessionHandle,
    Query(query): Query<SendQuery>,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let send = body.validate(&state.limits)?;
    let outcome = session.send(send, !query.is_async).await?;
    let result = outcome.result;
    if outcome.created && !query.is_async && result.status == MessageStatus::Failed {
        let error = result.error.clone();
        let code = error
            .as_ref()
            .map(|e| e.code)
            .unwrap_or(ErrorCode::Internal);
        let message = error
            .map(|e| e.message)
            .unwrap_or_else(|| "The message could not be sent".into());
        return Err(ApiError::new(code, message));
    }
    let status = if outcome.created && (query.is_async || result.status == MessageStatus::Queued) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)).into_response())
}

pub async fn message_status(
    SessionHandle(session): SessionHandle,
    Path((_, message_id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.message(&message_id).await?))
}

pub async fn check_numbers(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<CheckNumbersRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let numbers = body.validate()?;
    Ok(Json(session.check_numbers(numbers).await?))
}

pub async fn groups(SessionHandle(session): SessionHandle) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.groups().await?))
}

pub async fn put_webhook(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<WebhookConfig>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.set_webhook(Some(body)).await?))
}

pub async fn delete_webhook(
    SessionHandle(session): SessionHandle,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.set_webhook(None).await?))
}

pub async fn dead_letters(
    SessionHandle(session): SessionHandle,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        json!({ "deadLetters": session.dead_letters().await? }),
    ))
}

pub async fn replay_dead_letters(
    SessionHandle(session): SessionHandle,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        json!({ "replayed": session.replay_dead_letters().await? }),
    ))
}

/// Streams the file from the session volume rather than loading it whole.
pub async fn media(
    SessionHandle(session): SessionHandle,
    Path((_, message_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (media, path) = session.media(&message_id).await?;
    let file = tokio::fs::File::open(&path).await.map_err(|_| {
        ApiError::new(
            ErrorCode::MessageNotFound,
            format!("No stored media for message '{message_id}'"),
        )
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        media
            .mime_type
            .parse()
            .unwrap_or(header::HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, media.size.into());
    if let Some(name) = media.file_name.as_deref() {
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
            .collect();
        if let Ok(value) = format!("attachment; filename=\"{safe}\"").parse() {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}
