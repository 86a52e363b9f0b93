//! What a session has done, for people looking at it (the console, support tools): recent
//! messages in both directions from the message index, and hourly counts of the last day.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{MessageKind, MessageStatus};

/// Most messages one `GET .../messages` answers.
pub const MESSAGE_PAGE_MAX: u32 = 200;
/// Messages a `GET .../messages` answers when no `limit` is given.
pub const MESSAGE_PAGE_DEFAULT: u32 = 50;

/// One message of `GET /v1/sessions/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    pub id: String,
    /// The chat JID (the contact's, or the group's).
    pub chat: String,
    /// The author: phone digits or JID; the session's own number for its messages.
    pub from: String,
    pub from_me: bool,
    pub kind: MessageKind,
    pub at: DateTime<Utc>,
    /// The text or caption, cut at 1,024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// Delivery status of a message this gateway sent (the ticks); absent for received
    /// messages and for those typed on the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageStatus>,
    /// A received message this session marked read.
    pub read: bool,
}

/// `GET /v1/sessions/{id}/messages`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageSummary>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<DateTime<Utc>>,
}

/// One hour of `GET /v1/sessions/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourStats {
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// Messages the account sent (through the gateway or from its phone).
    pub sent: u64,
    pub received: u64,
    /// Webhook delivery attempts that failed (each retry counts).
    pub webhook_failures: u64,
}

/// `GET /v1/sessions/{id}/stats`: the last 24 hours, oldest first, and the queues now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStats {
    pub hours: Vec<HourStats>,
    /// Messages waiting in the outbox.
    pub outbox_depth: u64,
    /// Webhook deliveries waiting (not yet delivered, not dead).
    pub webhook_pending: u64,
    pub webhook_dead: u64,
}
