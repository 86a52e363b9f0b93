//! Handlers of the per-session routes: parse, validate at the edge, call the session.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wagate_api::{
    ApiError, ChatPresenceRequest, CheckNumbersRequest, EditRequest, ErrorCode, MessageStatus,
    OkResponse, PairCodeRequest, PresenceRequest, ReactionRequest, ReadRequest, ReadResult,
    Recipient, SendRequest,
};

use super::{HttpState, SessionHandle};
use crate::store::DeadLetter;
use wagate_http::{ApiJson, ApiQuery, JsonOrDefault};

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterList {
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingDeliveryList {
    pub deliveries: Vec<crate::store::PendingDelivery>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReplayResult {
    pub replayed: usize,
}

#[utoipa::path(post, path = "/v1/sessions/{id}/logout", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::OkResponse), super::openapi::ErrorResponses))]
pub async fn logout(SessionHandle(session): SessionHandle) -> Result<Json<OkResponse>, ApiError> {
    session.logout().await?;
    Ok(Json(OkResponse { ok: true }))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/restart", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::SessionInfo), super::openapi::ErrorResponses))]
pub async fn restart(SessionHandle(session): SessionHandle) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.restart().await?))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/pair-code", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::PairCodeRequest, responses((status = 200, body = wagate_api::PairCodeResponse), super::openapi::ErrorResponses))]
pub async fn pair_code(
    SessionHandle(session): SessionHandle,
    headers: http::HeaderMap,
    ApiJson(body): ApiJson<PairCodeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    super::sse::refuse_if_hidden(&headers)?;
    Ok(Json(session.pair_code(&body.phone).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendQuery {
    /// Answer `202` once queued instead of waiting for WhatsApp.
    #[serde(default, rename = "async")]
    #[param(rename = "async")]
    is_async: bool,
}

/// `200` once WhatsApp accepted the message, `202` when queued (`?async=true`, or still
/// queued when the wait ran out); a message that failed answers with its error.
#[utoipa::path(post, path = "/v1/sessions/{id}/messages", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), SendQuery), request_body = wagate_api::SendRequest, responses((status = 200, description = "WhatsApp accepted the message", body = wagate_api::SendResult), (status = 202, description = "Queued (`?async=true`, or WhatsApp had not answered in time)", body = wagate_api::SendResult), super::openapi::ErrorResponses))]
pub async fn send(
    State(state): State<HttpState>,
    SessionHandle(session): SessionHandle,
    ApiQuery(query): ApiQuery<SendQuery>,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let send = body.validate(&state.limits)?;
    let outcome = session.send(send, !query.is_async).await?;
    answer(outcome, query.is_async)
}

/// How a send (or an action, which is a send) is answered: `200` once WhatsApp accepted it,
/// `202` while queued, its error when it failed.
fn answer(outcome: crate::session::SendOutcome, is_async: bool) -> Result<Response, ApiError> {
    let result = outcome.result;
    if outcome.created && !is_async && result.status == MessageStatus::Failed {
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
    let status = if outcome.created && (is_async || result.status == MessageStatus::Queued) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)).into_response())
}

/// A message by id: one this session sent (status and delivery times) or received (from
/// the message index); a poll with its `votes`. `409` when the id names received
/// messages in several chats.
#[utoipa::path(get, path = "/v1/sessions/{id}/messages/{message_id}", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("message_id" = String, Path, description = "Message id")), responses((status = 200, body = wagate_api::SendResult), super::openapi::ErrorResponses))]
pub async fn message_status(
    SessionHandle(session): SessionHandle,
    Path((_, message_id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.message(&message_id).await?))
}

/// Reacts to a message of the chat (either direction), by id; `""` removes the reaction.
#[utoipa::path(post, path = "/v1/sessions/{id}/messages/{message_id}/reaction", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("message_id" = String, Path, description = "Id of the message reacted to"), SendQuery), request_body = wagate_api::ReactionRequest, responses((status = 200, description = "WhatsApp accepted the reaction", body = wagate_api::SendResult), (status = 202, description = "Queued", body = wagate_api::SendResult), super::openapi::ErrorResponses))]
pub async fn react(
    SessionHandle(session): SessionHandle,
    Path((_, message_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<SendQuery>,
    ApiJson(body): ApiJson<ReactionRequest>,
) -> Result<Response, ApiError> {
    body.validate()?;
    let outcome = session
        .react(&message_id, body.emoji, !query.is_async)
        .await?;
    answer(outcome, query.is_async)
}

/// Replaces the text of an own text message, or the caption of an own photo, video or
/// document, within WhatsApp's 15 minutes (`409` after, or for someone else's message).
#[utoipa::path(patch, path = "/v1/sessions/{id}/messages/{message_id}", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("message_id" = String, Path, description = "Id of the own message to edit"), SendQuery), request_body = wagate_api::EditRequest, responses((status = 200, description = "WhatsApp accepted the edit", body = wagate_api::SendResult), (status = 202, description = "Queued", body = wagate_api::SendResult), super::openapi::ErrorResponses))]
pub async fn edit_message(
    SessionHandle(session): SessionHandle,
    Path((_, message_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<SendQuery>,
    ApiJson(body): ApiJson<EditRequest>,
) -> Result<Response, ApiError> {
    body.validate()?;
    let outcome = session
        .edit(&message_id, body.text, !query.is_async)
        .await?;
    answer(outcome, query.is_async)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevokeQuery {
    /// `true`: the own message is deleted for everyone in the chat (through the outbox);
    /// otherwise any message is deleted for this account only (`204`, at once, so `async`
    /// does not apply).
    #[serde(default, rename = "forEveryone")]
    #[param(rename = "forEveryone")]
    for_everyone: bool,
    /// Answer `202` once queued instead of waiting for WhatsApp.
    #[serde(default, rename = "async")]
    #[param(rename = "async")]
    is_async: bool,
}

/// Deletes a message: for everyone (`?forEveryone=true`: an own message, revoked through
/// the outbox), or only for this account (any message: its devices drop it, and so does the
/// session's index).
#[utoipa::path(delete, path = "/v1/sessions/{id}/messages/{message_id}", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("message_id" = String, Path, description = "Id of the message to delete"), RevokeQuery), responses((status = 200, description = "WhatsApp accepted the revoke", body = wagate_api::SendResult), (status = 202, description = "Queued", body = wagate_api::SendResult), (status = 204, description = "Deleted for this account only (without `forEveryone`)"), super::openapi::ErrorResponses))]
pub async fn revoke(
    SessionHandle(session): SessionHandle,
    Path((_, message_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<RevokeQuery>,
) -> Result<Response, ApiError> {
    if !query.for_everyone {
        session.delete_for_me(&message_id).await?;
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    let outcome = session.revoke(&message_id, !query.is_async).await?;
    answer(outcome, query.is_async)
}

/// The chat a `{chat}` path segment names: a phone number or a JID (`400` otherwise).
fn chat_jid(chat: &str) -> Result<String, ApiError> {
    Recipient::parse(chat)
        .map(|r| r.jid())
        .map_err(|_| ApiError::field("chat", "must be a phone number with country code or a JID"))
}

/// Marks received messages of a chat read (all unread ones when `messageIds` is omitted).
#[utoipa::path(post, path = "/v1/sessions/{id}/chats/{chat}/read", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("chat" = String, Path, description = "Phone number or JID of the chat")), request_body = wagate_api::ReadRequest, responses((status = 200, body = wagate_api::ReadResult), super::openapi::ErrorResponses))]
pub async fn mark_read(
    SessionHandle(session): SessionHandle,
    Path((_, chat)): Path<(String, String)>,
    JsonOrDefault(body): JsonOrDefault<ReadRequest>,
) -> Result<Json<ReadResult>, ApiError> {
    let chat = chat_jid(&chat)?;
    let ids = body.validate()?;
    let read = session.mark_read(chat, ids).await?;
    Ok(Json(ReadResult { read }))
}

/// Shows typing (`composing`), recording or paused in a chat.
#[utoipa::path(post, path = "/v1/sessions/{id}/chats/{chat}/presence", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("chat" = String, Path, description = "Phone number or JID of the chat")), request_body = wagate_api::ChatPresenceRequest, responses((status = 200, body = wagate_api::OkResponse), super::openapi::ErrorResponses))]
pub async fn chat_presence(
    SessionHandle(session): SessionHandle,
    Path((_, chat)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChatPresenceRequest>,
) -> Result<Json<OkResponse>, ApiError> {
    let chat = chat_jid(&chat)?;
    session.chat_presence(&chat, body.state).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Shows the account online (`available: true`) or offline.
#[utoipa::path(put, path = "/v1/sessions/{id}/presence", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::PresenceRequest, responses((status = 200, body = wagate_api::OkResponse), super::openapi::ErrorResponses))]
pub async fn presence(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<PresenceRequest>,
) -> Result<Json<OkResponse>, ApiError> {
    session.set_presence(body.available).await?;
    Ok(Json(OkResponse { ok: true }))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/check-numbers", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), request_body = wagate_api::CheckNumbersRequest, responses((status = 200, body = wagate_api::CheckNumbersResponse), super::openapi::ErrorResponses))]
pub async fn check_numbers(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<CheckNumbersRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let numbers = body.validate()?;
    Ok(Json(session.check_numbers(numbers).await?))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/groups", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::GroupsResponse), super::openapi::ErrorResponses))]
pub async fn groups(SessionHandle(session): SessionHandle) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(session.groups().await?))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/webhook/dead-letters", tag = "webhooks", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = DeadLetterList), super::openapi::ErrorResponses))]
pub async fn dead_letters(
    SessionHandle(session): SessionHandle,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(DeadLetterList {
        dead_letters: session.dead_letters().await?,
    }))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/webhook/dead-letters/replay", tag = "webhooks", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = ReplayResult), super::openapi::ErrorResponses))]
pub async fn replay_dead_letters(
    SessionHandle(session): SessionHandle,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(ReplayResult {
        replayed: session.replay_dead_letters().await?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagePageQuery {
    /// How many messages (1-200, default 50).
    limit: Option<u32>,
    /// Where the page starts: the `nextBefore` of the last page, or an RFC 3339 time
    /// (messages older than it).
    before: Option<String>,
    /// Only this chat: a phone number with country code or a JID.
    chat: Option<String>,
}

/// Recent messages in both directions, newest first, from the message index (kept
/// `--message-index-days`), with the ticks of the ones this gateway sent.
#[utoipa::path(get, path = "/v1/sessions/{id}/messages", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), MessagePageQuery), responses((status = 200, body = wagate_api::MessagePage), super::openapi::ErrorResponses))]
pub async fn list_messages(
    SessionHandle(session): SessionHandle,
    ApiQuery(query): ApiQuery<MessagePageQuery>,
) -> Result<Json<wagate_api::MessagePage>, ApiError> {
    let limit = query.limit.unwrap_or(wagate_api::MESSAGE_PAGE_DEFAULT);
    if !(1..=wagate_api::MESSAGE_PAGE_MAX).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1-200"));
    }
    let chat = query.chat.as_deref().map(chat_jid).transpose()?;
    let before = query
        .before
        .as_deref()
        .map(|raw| {
            wagate_api::PageCursor::parse(raw).ok_or_else(|| {
                ApiError::field(
                    "before",
                    "must be the nextBefore of a page or an RFC 3339 time",
                )
            })
        })
        .transpose()?;
    Ok(Json(session.recent_messages(chat, before, limit).await?))
}

/// Messages sent and received and webhook failures per hour over the last 24 hours, and
/// the depth of the outbox and the webhook queue now.
#[utoipa::path(get, path = "/v1/sessions/{id}/stats", tag = "sessions", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = wagate_api::SessionStats), super::openapi::ErrorResponses))]
pub async fn stats(
    SessionHandle(session): SessionHandle,
) -> Result<Json<wagate_api::SessionStats>, ApiError> {
    Ok(Json(session.stats().await?))
}

/// Webhook deliveries waiting for their receiver (the oldest 200), with their last error.
#[utoipa::path(get, path = "/v1/sessions/{id}/webhook/deliveries", tag = "webhooks", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)")), responses((status = 200, body = PendingDeliveryList), super::openapi::ErrorResponses))]
pub async fn pending_deliveries(
    SessionHandle(session): SessionHandle,
) -> Result<Json<PendingDeliveryList>, ApiError> {
    Ok(Json(PendingDeliveryList {
        deliveries: session.pending_deliveries().await?,
    }))
}

/// Streams the file from the session volume rather than loading it whole.
#[utoipa::path(get, path = "/v1/sessions/{id}/media/{message_id}", tag = "messages", params(("id" = String, Path, description = "Session id (1-64 of A-Z a-z 0-9 _ -)"), ("message_id" = String, Path, description = "Media id, as in the `media.url` of the `message.received` event (a bare message id works while only one sender used it)")), responses((status = 200, description = "The media bytes, with their MIME type", content_type = "application/octet-stream", body = Vec<u8>), super::openapi::ErrorResponses))]
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
    // The bytes and their type come from whoever messaged the number: never let a browser
    // guess a type or render anything but plain images, audio and video in our origin.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    let disposition = if renders_safely(&media.mime_type) {
        "inline"
    } else {
        "attachment"
    };
    let safe_name: Option<String> = media.file_name.as_deref().map(|name| {
        name.chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
            .collect()
    });
    let value = match safe_name {
        Some(name) => format!("{disposition}; filename=\"{name}\""),
        None => disposition.to_string(),
    };
    if let Ok(value) = value.parse() {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Media types a browser shows without running anything; everything else is a download.
fn renders_safely(mime_type: &str) -> bool {
    const SAFE: &[&str] = &[
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "video/mp4",
        "video/3gpp",
        "video/webm",
    ];
    let essence = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    SAFE.contains(&essence.as_str())
}
