//! Actions on a message already in a chat, by its id: react to it, edit it, revoke it.
//! Each is itself a message the outbox sends (durable, ordered, idempotent, like sends).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::message::check_text;
use crate::{ApiError, FieldErrors};

/// How long after sending WhatsApp lets its author edit a message.
pub const EDIT_WINDOW_SECS: i64 = 15 * 60;

/// `POST .../messages/{messageId}/reaction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReactionRequest {
    /// One emoji (skin tones included); `""` removes this session's reaction.
    pub emoji: String,
}

impl ReactionRequest {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.emoji.is_empty() || emojis::get(&self.emoji).is_some() {
            Ok(())
        } else {
            Err(ApiError::field(
                "emoji",
                "must be one emoji, or \"\" to remove the reaction",
            ))
        }
    }
}

/// `PATCH .../messages/{messageId}`: the new text of an own text message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditRequest {
    /// At most 65,536 characters.
    pub text: String,
}

impl EditRequest {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut errors = FieldErrors::new();
        check_text("text", &self.text, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// The message an action is about, as WhatsApp keys it (the chat is where the action goes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    pub id: String,
    /// Whether this session sent it.
    pub from_me: bool,
    /// Its author in a group, when that is not this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaction_is_one_emoji_or_nothing() {
        for ok in ["👍", "❤️", "👍🏽", "🇦🇪", "👨‍👩‍👧", ""] {
            assert!(
                ReactionRequest { emoji: ok.into() }.validate().is_ok(),
                "{ok:?}"
            );
        }
        for bad in ["ab", "👍👍", ":)", "👍 ", "x"] {
            let error = ReactionRequest { emoji: bad.into() }
                .validate()
                .unwrap_err();
            assert!(error.details.unwrap().contains_key("emoji"), "{bad:?}");
        }
    }

    #[test]
    fn a_read_names_at_most_a_thousand_ids_once_each() {
        let request = |ids: Vec<String>| ReadRequest {
            message_ids: Some(ids),
        };
        assert_eq!(ReadRequest::default().validate().unwrap(), None);
        assert_eq!(
            request(vec!["A".into(), "B".into(), "A".into()])
                .validate()
                .unwrap(),
            Some(vec!["A".to_string(), "B".to_string()])
        );
        assert!(request(Vec::new()).validate().is_err());
        assert!(request(vec!["A".into(); READ_MAX + 1]).validate().is_err());
    }

    #[test]
    fn an_edit_is_a_text() {
        assert!(
            EditRequest {
                text: "fixed".into()
            }
            .validate()
            .is_ok()
        );
        assert!(EditRequest { text: " ".into() }.validate().is_err());
    }
}

/// `POST .../chats/{chat}/read`: marks messages of the chat read (blue ticks for the sender).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadRequest {
    /// Ids of received messages of this chat; all not yet read when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<String>>,
}

/// Messages one read request may name (and, without names, marks at most).
pub const READ_MAX: usize = 1000;

impl ReadRequest {
    /// The ids to mark, without repeats; `400` for an empty or too long list.
    pub fn validate(&self) -> Result<Option<Vec<String>>, ApiError> {
        let Some(ids) = &self.message_ids else {
            return Ok(None);
        };
        if ids.is_empty() || ids.len() > READ_MAX {
            return Err(ApiError::field(
                "messageIds",
                format!("must list 1-{READ_MAX} message ids (or be omitted)"),
            ));
        }
        let mut unique: Vec<String> = Vec::with_capacity(ids.len());
        for id in ids {
            if id.is_empty() || id.len() > 128 {
                return Err(ApiError::field(
                    "messageIds",
                    "each must be a message id (1-128 characters)",
                ));
            }
            if !unique.contains(id) {
                unique.push(id.clone());
            }
        }
        Ok(Some(unique))
    }
}

/// What `POST .../chats/{chat}/read` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadResult {
    /// Messages marked read now.
    pub read: usize,
}

/// What this session shows in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatState {
    /// Typing…
    Composing,
    /// Recording audio…
    Recording,
    Paused,
}

/// `POST .../chats/{chat}/presence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatPresenceRequest {
    pub state: ChatState,
}

/// `PUT .../presence`: whether the account shows as online.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresenceRequest {
    pub available: bool,
}
