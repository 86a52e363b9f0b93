//! Sandbox controls of the simulator engine (`--engine simulator` only): link the session
//! as if a phone scanned the QR, inject inbound messages and receipts, drop the connection.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use wagate_api::{
    ApiError, ChatState, ErrorCode, GroupChanges, MediaType, MessageBody, MessageKind,
    MessageStatus, ParticipantsRequest, Recipient, normalize_phone, parse_group_jid,
};
use whatsapp_rust::wacore::poll;

use super::{HttpState, SessionHandle};
use crate::engine::simulator::{Sandbox, SandboxGroupChange};
use crate::engine::{
    EncryptedVote, EngineError, InboundAction, InboundAttachment, InboundMessage, InboundPoll,
};
use crate::inbound_media::AttachmentContent;
use crate::session::Session;
use wagate_http::{ApiJson, JsonOrDefault};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/v1/sessions/{id}/sandbox/scan", post(scan))
        .route("/v1/sessions/{id}/sandbox/inbound", post(inbound))
        .route("/v1/sessions/{id}/sandbox/receipt", post(receipt))
        .route("/v1/sessions/{id}/sandbox/call", post(call))
        .route("/v1/sessions/{id}/sandbox/group", post(group_change))
        .route("/v1/sessions/{id}/sandbox/disconnect", post(disconnect))
        .route("/v1/sessions/{id}/sandbox/fail-sends", post(fail_sends))
        .route("/v1/sessions/{id}/sandbox/sent", get(sent))
}

fn sandbox(session: &Session) -> Result<&dyn Sandbox, ApiError> {
    session.engine().sandbox().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "Sandbox endpoints exist only for sessions run with --engine simulator",
        )
    })
}

fn sandbox_error(e: EngineError) -> ApiError {
    match e {
        EngineError::AlreadyLinked => {
            ApiError::new(ErrorCode::Conflict, "The session is already linked")
        }
        EngineError::NotConnected => ApiError::new(
            ErrorCode::SessionNotReady,
            "The simulated session is not connected",
        ),
        EngineError::GroupNotFound(_) => ApiError::new(ErrorCode::GroupNotFound, e.to_string()),
        EngineError::NotGroupAdmin(_) => ApiError::new(ErrorCode::NotGroupAdmin, e.to_string()),
        other => ApiError::internal(other.to_string()),
    }
}

/// `POST .../sandbox/group`: member `by` changes a group, either its members
/// (`participants: { action, participants }`) or its subject, description or settings
/// (`changes`, as in `PATCH .../groups/{groupJid}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupChangeBody {
    group: String,
    by: String,
    #[serde(default)]
    participants: Option<ParticipantsRequest>,
    #[serde(default)]
    changes: Option<GroupChanges>,
}

async fn group_change(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<GroupChangeBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let group = parse_group_jid(&body.group)?;
    let by = normalize_phone(&body.by)
        .ok_or_else(|| ApiError::field("by", "must be a phone number with country code"))?;
    let change = match (body.participants, body.changes) {
        (Some(p), None) => SandboxGroupChange::Participants(p.action, p.validate()?),
        (None, Some(c)) => SandboxGroupChange::Settings(c.validate()?),
        _ => {
            return Err(ApiError::field(
                "body",
                "must carry exactly one of participants, changes",
            ));
        }
    };
    sandbox(&session)?
        .group_change(by, group, change)
        .await
        .map_err(sandbox_error)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanBody {
    phone: Option<String>,
}

async fn scan(
    SessionHandle(session): SessionHandle,
    JsonOrDefault(body): JsonOrDefault<ScanBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let phone =
        match body.phone {
            Some(raw) => Some(normalize_phone(&raw).ok_or_else(|| {
                ApiError::field("phone", "must be a phone number with country code")
            })?),
            None => None,
        };
    let phone = sandbox(&session)?
        .scan(phone)
        .await
        .map_err(sandbox_error)?;
    Ok(Json(json!({ "linked": true, "phone": phone })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundBody {
    from: String,
    /// The account's own phone sends it to `from` (the webhook sees `fromMe: true`).
    #[serde(default)]
    from_me: bool,
    /// WhatsApp names the contact by LID (the simulator's: `1` followed by the number), as
    /// it does more and more: the event carries `fromLid`, and `from` stays the phone as
    /// on a session that knows it.
    #[serde(default)]
    by_lid: bool,
    text: Option<String>,
    push_name: Option<String>,
    /// Deliver as a message in this group (`...@g.us`).
    group: Option<String>,
    id: Option<String>,
    media: Option<InboundMediaBody>,
    /// A contact shares a location.
    location: Option<wagate_api::LocationSpec>,
    /// A contact shares contact cards.
    contacts: Option<Vec<wagate_api::ContactSpec>>,
    /// The contact reacts to message `messageId` (`emoji` `""` removes the reaction).
    reaction: Option<SandboxReaction>,
    /// The contact edits its message `messageId` to `text`.
    edit: Option<SandboxEdit>,
    /// The contact deletes its message with this id for everyone.
    revoke: Option<String>,
    /// The contact sends a poll.
    poll: Option<wagate_api::PollSpec>,
    /// The contact votes in poll `pollId`, one this session sent (`options: []` withdraws
    /// the vote). Encrypted with the poll's secret, as a phone does.
    vote: Option<SandboxVote>,
    /// The contact shows it is typing (`composing`), recording or stopped (`paused`); no
    /// message is sent.
    chat_state: Option<ChatState>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxVote {
    poll_id: String,
    options: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxReaction {
    message_id: String,
    emoji: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxEdit {
    message_id: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundMediaBody {
    #[serde(rename = "type")]
    kind: MediaType,
    data: String,
    mime_type: Option<String>,
    file_name: Option<String>,
    caption: Option<String>,
}

async fn inbound(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<InboundBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let from = normalize_phone(&body.from)
        .ok_or_else(|| ApiError::field("from", "must be a phone number with country code"))?;
    let chat = match &body.group {
        Some(group) => match Recipient::parse(group) {
            Ok(r @ Recipient::Group(_)) => r.jid(),
            _ => {
                return Err(ApiError::field(
                    "group",
                    "must be a group JID like 120363000000000001@g.us",
                ));
            }
        },
        None => format!("{from}@s.whatsapp.net"),
    };
    if let Some(state) = body.chat_state {
        sandbox(&session)?
            .chat_presence(chat, from, state)
            .await
            .map_err(sandbox_error)?;
        return Ok(Json(json!({})));
    }
    let (kind, media) = match body.media {
        Some(m) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(m.data.as_bytes())
                .map_err(|e| ApiError::field("media.data", format!("is not valid base64 ({e})")))?;
            let kind = match m.kind {
                MediaType::Image => MessageKind::Image,
                MediaType::Video => MessageKind::Video,
                MediaType::Audio => MessageKind::Audio,
                MediaType::Document => MessageKind::Document,
                MediaType::Sticker => MessageKind::Sticker,
            };
            let mime_type = m
                .mime_type
                .unwrap_or_else(|| m.kind.default_mime().to_string());
            (
                kind,
                Some(InboundAttachment {
                    mime_type,
                    file_name: m.file_name,
                    caption: m.caption,
                    content: AttachmentContent::Bytes(bytes),
                }),
            )
        }
        None if body.text.is_some() => (MessageKind::Text, None),
        None if body.location.is_some() => (MessageKind::Location, None),
        None if body.contacts.is_some() => (MessageKind::Contact, None),
        None if body.reaction.is_some() => (MessageKind::Reaction, None),
        None if body.poll.is_some() || body.vote.is_some() => (MessageKind::Poll, None),
        None if body.edit.is_some() || body.revoke.is_some() => (MessageKind::Unknown, None),
        None => {
            return Err(ApiError::field(
                "text",
                "give 'text', 'media', 'location', 'contacts', 'poll', 'vote', 'reaction', 'edit', \
                 'revoke' or 'chatState'",
            ));
        }
    };
    let vote = match body.vote {
        Some(vote) => Some(sandbox_vote(&session, &from, vote).await?),
        None => None,
    };
    let action = match (body.reaction, body.edit, body.revoke) {
        _ if vote.is_some() => vote,
        (Some(r), _, _) => Some(InboundAction::Reaction {
            target: r.message_id,
            emoji: r.emoji,
        }),
        (None, Some(e), _) => Some(InboundAction::Edited {
            target: e.message_id,
            text: e.text,
        }),
        (None, None, Some(target)) => Some(InboundAction::Revoked { target }),
        (None, None, None) => None,
    };
    let mut errors = wagate_api::FieldErrors::new();
    if let Some(location) = &body.location {
        location.check(&mut errors);
    }
    if let Some(poll) = &body.poll {
        poll.check(&mut errors);
    }
    let contacts: Vec<_> = body
        .contacts
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, c)| c.to_shared(&format!("contacts[{i}]"), &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let id = body
        .id
        .unwrap_or_else(|| crate::session::new_message_id().replacen("3EB0", "SIM0", 1));
    let own_phone = session.info().await.phone.unwrap_or_default();
    let from_lid = (body.by_lid && !body.from_me).then(|| format!("1{from}@lid"));
    let message = InboundMessage {
        id: id.clone(),
        from: if body.from_me { own_phone } else { from },
        from_lid,
        from_me: body.from_me,
        is_group: body.group.is_some(),
        chat,
        push_name: body.push_name,
        timestamp: Utc::now(),
        kind,
        text: body.text,
        media,
        location: body.location,
        contacts,
        poll: body.poll.map(|spec| InboundPoll {
            spec,
            secret: Some(rand::random::<[u8; 32]>().to_vec()),
        }),
        action,
        quoted: None,
        mentions: Vec::new(),
    };
    sandbox(&session)?
        .inbound(message)
        .await
        .map_err(sandbox_error)?;
    Ok(Json(json!({ "messageId": id })))
}

/// A vote as the contact's phone encrypts it: with the secret of the poll the session sent
/// it, keyed to the session's number as creator and the contact's as voter.
async fn sandbox_vote(
    session: &Session,
    from: &str,
    vote: SandboxVote,
) -> Result<InboundAction, ApiError> {
    let secret = sandbox(session)?
        .sent()
        .into_iter()
        .find(|sent| sent.id == vote.poll_id)
        .and_then(|sent| match sent.body {
            Some(MessageBody::Poll { secret, .. }) => hex::decode(secret).ok(),
            _ => None,
        })
        .ok_or_else(|| ApiError::field("vote.pollId", "is not a poll this session sent"))?;
    let creator = format!(
        "{}@s.whatsapp.net",
        session.info().await.phone.unwrap_or_default()
    );
    let voter = format!("{from}@s.whatsapp.net");
    let hashes: Vec<Vec<u8>> = vote
        .options
        .iter()
        .map(|o| poll::compute_option_hash(o).to_vec())
        .collect();
    let (payload, iv) =
        poll::encrypt_poll_vote_with_secret(&hashes, &secret, &vote.poll_id, &creator, &voter)
            .map_err(|e| ApiError::internal(format!("cannot encrypt the vote: {e}")))?;
    Ok(InboundAction::PollVote {
        target: vote.poll_id,
        vote: EncryptedVote {
            payload,
            iv: iv.to_vec(),
            creator,
            voter,
            cast_at: Utc::now().timestamp_millis(),
        },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptBody {
    message_ids: Vec<String>,
    status: MessageStatus,
}

async fn receipt(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<ReceiptBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !matches!(body.status, MessageStatus::Delivered | MessageStatus::Read) {
        return Err(ApiError::field("status", "must be delivered or read"));
    }
    sandbox(&session)?
        .receipt(body.message_ids, body.status)
        .await
        .map_err(sandbox_error)?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallBody {
    from: String,
    #[serde(default)]
    video: bool,
    /// A group call in this group (`...@g.us`).
    group: Option<String>,
}

/// Someone calls the session: `call.received` follows (and the session's `rejectCalls`
/// applies: a rejection shows in `GET .../sandbox/sent` as `kind: "call-reject"`).
async fn call(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<CallBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let from = normalize_phone(&body.from)
        .ok_or_else(|| ApiError::field("from", "must be a phone number with country code"))?;
    let group = match &body.group {
        Some(group) => match Recipient::parse(group) {
            Ok(g @ Recipient::Group(_)) => Some(g.jid()),
            _ => return Err(ApiError::field("group", "must be a group JID (...@g.us)")),
        },
        None => None,
    };
    let call_id = crate::session::new_message_id().replacen("3EB0", "CALL", 1);
    sandbox(&session)?
        .call(crate::engine::IncomingCall {
            call_id: call_id.clone(),
            peer: format!("{from}@s.whatsapp.net"),
            creator: format!("{from}@s.whatsapp.net"),
            from,
            from_lid: None,
            video: body.video,
            group,
        })
        .await
        .map_err(sandbox_error)?;
    Ok(Json(json!({ "callId": call_id })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisconnectBody {
    /// How long the connection stays down (default 1 s, at most 10 min).
    down_for_ms: Option<u64>,
}

async fn disconnect(
    SessionHandle(session): SessionHandle,
    JsonOrDefault(body): JsonOrDefault<DisconnectBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let down_for = body.down_for_ms.unwrap_or(1000).min(600_000);
    sandbox(&session)?
        .drop_connection(Duration::from_millis(down_for))
        .await
        .map_err(sandbox_error)?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailSendsBody {
    count: u32,
}

async fn fail_sends(
    SessionHandle(session): SessionHandle,
    ApiJson(body): ApiJson<FailSendsBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    sandbox(&session)?.fail_next_sends(body.count);
    Ok(Json(json!({ "ok": true })))
}

async fn sent(SessionHandle(session): SessionHandle) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "sent": sandbox(&session)?.sent() })))
}
