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

/// Where a page of `GET .../messages` ends: messages older than this are on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// Unix milliseconds.
    pub at: i64,
    /// Among messages of that same millisecond, those whose id sorts before this one.
    pub id: String,
}

impl PageCursor {
    /// The `nextBefore` text of a page ending at message `id` of time `at`.
    pub fn encode(at: i64, id: &str) -> String {
        format!("{at}.{id}")
    }

    /// A `before` parameter: a `nextBefore` cursor, or an RFC 3339 time.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
            return Some(Self {
                at: time.with_timezone(&Utc).timestamp_millis(),
                id: String::new(),
            });
        }
        let (at, id) = raw.split_once('.')?;
        Some(Self {
            at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// One message of `GET /v1/sessions/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    pub id: String,
    /// The chat JID (the contact's, or the group's).
    pub chat: String,
    /// The author: phone digits or JID of a contact; for messages of this account, its own
    /// number when the index knows it (else empty).
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
    /// Pass as `before` for the next (older) page; absent on the last page. Opaque: it
    /// names the last message shown, so messages of the same second are never skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_times_both_name_a_page_end() {
        let cursor = PageCursor::encode(1_733_419_200_123, "3EB0.AB");
        assert_eq!(
            PageCursor::parse(&cursor),
            Some(PageCursor {
                at: 1_733_419_200_123,
                id: "3EB0.AB".into()
            })
        );
        assert_eq!(
            PageCursor::parse("2024-12-05T17:20:00.123Z").map(|c| (c.at, c.id)),
            Some((1_733_419_200_123, String::new()))
        );
        for bad in ["yesterday", "", ".x", "12a.x"] {
            assert_eq!(PageCursor::parse(bad), None, "{bad}");
        }
    }
}
