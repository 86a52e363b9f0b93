//! Events a session emits: pushed to webhooks and to the SSE stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ChatState, LocationSpec, PollSpec, SessionState, SharedContact};

/// Event names, as used in webhook subscriptions, `x-wagate-event` and SSE `event:` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventKind {
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "session.status")]
    SessionStatus,
    /// Someone reacted to a message of a chat (or removed their reaction).
    #[serde(rename = "message.reaction")]
    MessageReaction,
    /// Someone edited a message they had sent.
    #[serde(rename = "message.edited")]
    MessageEdited,
    /// Someone deleted a message they had sent, for everyone.
    #[serde(rename = "message.revoked")]
    MessageRevoked,
    /// Someone voted in a poll (or changed or withdrew their vote).
    #[serde(rename = "poll.vote")]
    PollVote,
    /// A contact is typing, recording a voice note, or stopped, in a chat.
    #[serde(rename = "chat.presence")]
    ChatPresence,
    /// Members were added, removed, promoted or demoted (or joined or left) in a group.
    #[serde(rename = "group.participants")]
    GroupParticipants,
    /// A group's subject, description or settings changed.
    #[serde(rename = "group.updated")]
    GroupUpdated,
    /// Someone calls the number (rejected when the session's `rejectCalls` is on).
    #[serde(rename = "call.received")]
    CallReceived,
    /// SSE only: a new QR code is available.
    #[serde(rename = "qr")]
    Qr,
}

impl EventKind {
    /// Whether a webhook gets it only when it lists it: typing comes often and means
    /// nothing later, so it is not part of "every event" (a webhook without a list).
    pub fn opt_in(self) -> bool {
        matches!(self, Self::ChatPresence)
    }

    /// The events a webhook can subscribe to.
    pub const WEBHOOK: [EventKind; 11] = [
        Self::MessageReceived,
        Self::MessageStatus,
        Self::SessionStatus,
        Self::MessageReaction,
        Self::MessageEdited,
        Self::MessageRevoked,
        Self::PollVote,
        Self::ChatPresence,
        Self::GroupParticipants,
        Self::GroupUpdated,
        Self::CallReceived,
    ];

    /// A webhook event by name (flags, env): one of [`Self::WEBHOOK`].
    pub fn parse_webhook(raw: &str) -> Result<Self, String> {
        Self::WEBHOOK
            .into_iter()
            .find(|k| k.as_str() == raw.trim())
            .ok_or_else(|| {
                let names: Vec<_> = Self::WEBHOOK.iter().map(|k| k.as_str()).collect();
                format!("must be one of {}", names.join(", "))
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageReceived => "message.received",
            Self::MessageStatus => "message.status",
            Self::SessionStatus => "session.status",
            Self::MessageReaction => "message.reaction",
            Self::MessageEdited => "message.edited",
            Self::MessageRevoked => "message.revoked",
            Self::PollVote => "poll.vote",
            Self::ChatPresence => "chat.presence",
            Self::GroupParticipants => "group.participants",
            Self::GroupUpdated => "group.updated",
            Self::CallReceived => "call.received",
            Self::Qr => "qr",
        }
    }

    /// The SSE `event:` name; the contract calls session status changes `status` there.
    pub fn sse_name(self) -> &'static str {
        match self {
            Self::SessionStatus => "status",
            other => other.as_str(),
        }
    }
}

/// The envelope POSTed to webhooks and sent as SSE `data:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEvent {
    pub event: EventKind,
    pub session_id: String,
    pub timestamp: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// `data` of a `session.status` event when the state changed. (The first event of an SSE
/// stream carries the whole `SessionInfo` instead.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatusData {
    pub status: SessionState,
    pub previous: SessionState,
    pub ready: bool,
    pub phone: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    Video,
    Audio,
    /// A voice note (push-to-talk audio).
    Voice,
    Document,
    Sticker,
    Location,
    Contact,
    Reaction,
    Poll,
    Unknown,
}

/// `data` of a `message.received` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessageData {
    pub message_id: String,
    /// Sender phone digits whenever the session knows them, even when WhatsApp named the
    /// sender by LID; else the JID (a `...@lid` nobody has resolved yet).
    pub from: String,
    /// The sender's LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    /// `true` for a message the account sent from its phone (or another linked device):
    /// `from` is then the account's own number and `chat` where it went.
    #[serde(default)]
    pub from_me: bool,
    /// The chat JID: the group for group messages; for direct chats the person's phone
    /// JID whenever it is known (else their LID), so one conversation keeps one name.
    pub chat: String,
    pub is_group: bool,
    pub push_name: Option<String>,
    /// Unix seconds.
    pub timestamp: i64,
    #[serde(rename = "type")]
    pub kind: MessageKind,
    pub text: Option<String>,
    pub media: Option<InboundMedia>,
    /// The pin of a `location` message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationSpec>,
    /// The cards of a `contact` message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<SharedContact>,
    /// The question and options of a `poll` message (votes follow as `poll.vote`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSpec>,
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted: Option<QuotedMessage>,
    /// Who the text or caption mentions (phone digits, or a JID without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// The message a reply quotes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotedMessage {
    pub message_id: String,
    /// Its author, when WhatsApp names one (phone digits, or a JID without one).
    pub from: Option<String>,
}

/// `data` of a `message.reaction` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReactionData {
    /// The message reacted to.
    pub message_id: String,
    /// Who reacted (phone digits, or a JID without one).
    pub from: String,
    /// Their LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    pub chat: String,
    /// `""` when `removed`.
    pub emoji: String,
    pub removed: bool,
}

/// `data` of a `message.edited` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditedData {
    /// The message edited.
    pub message_id: String,
    pub from: String,
    /// Their LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    pub chat: String,
    /// Its new text.
    pub text: String,
}

/// `data` of a `chat.presence` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatPresenceData {
    /// The chat JID (the contact's, or the group's).
    pub chat: String,
    /// Who (phone digits, or a JID without one).
    pub from: String,
    /// Their LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    pub state: ChatState,
}

/// `data` of a `call.received` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallReceivedData {
    pub call_id: String,
    /// The caller (phone digits whenever the session knows them, else the JID).
    pub from: String,
    /// The caller's LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    pub video: bool,
    /// The group JID of a group call.
    pub group: Option<String>,
    /// The session rejected it (`rejectCalls`).
    pub rejected: bool,
}

/// `data` of a `message.revoked` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedData {
    /// The message deleted for everyone.
    pub message_id: String,
    pub from: String,
    /// Their LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    pub chat: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundMedia {
    pub mime_type: String,
    pub file_name: Option<String>,
    pub caption: Option<String>,
    pub size: u64,
    /// URL of `GET .../media/{mediaId}` to fetch the bytes; `null` when they were not kept.
    pub url: Option<String>,
    /// Why the bytes were not kept (larger than the inbound cap, quota full, download
    /// failed); the message itself is delivered all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
