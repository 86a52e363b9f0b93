//! Sending: the request, its validation into a `ValidatedSend`, and the result view.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::actions::MessageRef;
use crate::contact_card::{CONTACTS_MAX, ContactSpec, SharedContact};
use crate::location::LocationSpec;
use crate::poll::PollSpec;
use crate::{ApiError, ErrorCode, FieldErrors, Recipient};

pub const TEXT_MAX_CHARS: usize = 65_536;
pub const FILE_NAME_MAX: usize = 255;
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Image,
            Self::Video,
            Self::Audio,
            Self::Document,
            Self::Sticker,
        ]
        .into_iter()
        .find(|t| t.as_str() == raw)
    }

    /// What WhatsApp clients assume when the sender does not say.
    pub fn default_mime(self) -> &'static str {
        match self {
            Self::Image => "image/jpeg",
            Self::Video => "video/mp4",
            Self::Audio => "audio/ogg; codecs=opus",
            Self::Document => "application/octet-stream",
            Self::Sticker => "image/webp",
        }
    }
}

/// Media in a send: exactly one of `url` / `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaSpec {
    #[serde(rename = "type")]
    pub kind: MediaType,
    /// `http(s)` URL the gateway downloads the file from.
    #[serde(default)]
    pub url: Option<String>,
    /// The file as base64 (a `data:` URL is accepted too).
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    /// `audio` only: send it as a voice note (push-to-talk), as the phone records them.
    /// WhatsApp plays voice notes only in Ogg Opus; other audio is sent as an audio file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ptt: bool,
}

/// `POST .../messages` body: exactly one of `text`, `media`, `location`, `contacts`, `poll`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendRequest {
    /// Phone number with country code, or a JID (`...@s.whatsapp.net`, `...@g.us`).
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub media: Option<MediaSpec>,
    /// A pin on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationSpec>,
    /// Contact cards (1-20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<ContactSpec>>,
    /// A poll; its votes arrive as `poll.vote` events and its tally with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSpec>,
    /// Numbers with country code the text (or caption) mentions; write `@<digits>` in the
    /// text where each should appear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentions: Option<Vec<String>>,
    /// Id of the message this one quotes.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Client-chosen key; a retry with the same key within 24 h returns the first result.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// `POST /v1/messages` only: the session to send through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `POST /v1/messages` only: pick the session by its linked phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Size caps for media, configured per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    pub inline_max_bytes: usize,
    pub url_max_bytes: usize,
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            inline_max_bytes: 16 * 1024 * 1024,
            url_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What a message says: one type from the validated request through the outbox (stored as
/// this JSON, `type`-tagged) to the engine. A new kind of message is one new variant here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum MessageBody {
    Text {
        text: String,
        /// Numbers (digits) the text mentions (`@<digits>` in the text).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    Media {
        kind: MediaType,
        source: MediaSource,
        mime_type: String,
        file_name: Option<String>,
        caption: Option<String>,
        /// Numbers (digits) the caption mentions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<String>,
        /// A voice note (audio in Ogg Opus only).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ptt: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Contacts {
        contacts: Vec<SharedContact>,
    },
    #[serde(rename_all = "camelCase")]
    Poll {
        question: String,
        options: Vec<String>,
        /// `0` for any number of options.
        selectable_count: u32,
        /// The poll's 32-byte message secret (hex), which voters' clients encrypt their
        /// votes with. Chosen by the session when it accepts the poll, so a resend after a
        /// crash carries the same one.
        #[serde(default)]
        secret: String,
    },
    /// A reaction to `target` (`""` removes it).
    Reaction {
        target: MessageRef,
        emoji: String,
    },
    /// New text for `target`, an own message (or its new caption, when `captionOf` says
    /// which kind of media it is).
    #[serde(rename_all = "camelCase")]
    Edit {
        target: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption_of: Option<MediaType>,
    },
    /// `target`, an own message, deleted for everyone.
    Revoke {
        target: String,
    },
}

/// Where the bytes of a media message are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "camelCase")]
pub enum MediaSource {
    /// In hand: decoded from the request, read back from the outbox, or fetched from the
    /// URL before sending. Never part of the JSON: the outbox keeps the bytes in a column of
    /// their own, so a stored body reads back with none until they are put back.
    Inline {
        #[serde(skip)]
        bytes: Vec<u8>,
    },
    /// Fetched by the gateway (through its egress guard) when the message is sent.
    Url { url: String },
}

impl MessageBody {
    /// The words a chat shows for it (text, caption, question, place name), if any.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text { text, .. } => Some(text),
            Self::Media { caption, .. } => caption.as_deref(),
            Self::Poll { question, .. } => Some(question),
            Self::Location { name, .. } => name.as_deref(),
            Self::Contacts { contacts } => contacts.first().map(|c| c.display_name.as_str()),
            Self::Reaction { .. } | Self::Edit { .. } | Self::Revoke { .. } => None,
        }
    }

    /// What a chat shows this message as; `None` for actions on other messages.
    pub fn kind(&self) -> Option<crate::MessageKind> {
        use crate::MessageKind;
        Some(match self {
            Self::Text { .. } => MessageKind::Text,
            Self::Media { kind, ptt, .. } => match kind {
                MediaType::Image => MessageKind::Image,
                MediaType::Video => MessageKind::Video,
                MediaType::Audio if *ptt => MessageKind::Voice,
                MediaType::Audio => MessageKind::Audio,
                MediaType::Document => MessageKind::Document,
                MediaType::Sticker => MessageKind::Sticker,
            },
            Self::Location { .. } => MessageKind::Location,
            Self::Contacts { .. } => MessageKind::Contact,
            Self::Poll { .. } => MessageKind::Poll,
            Self::Reaction { .. } | Self::Edit { .. } | Self::Revoke { .. } => return None,
        })
    }

    /// Takes the inline media bytes out of the body (to be stored apart), if it has any.
    pub fn take_inline_bytes(&mut self) -> Option<Vec<u8>> {
        match self {
            Self::Media {
                source: MediaSource::Inline { bytes },
                ..
            } => Some(std::mem::take(bytes)),
            _ => None,
        }
    }

    /// Puts inline media bytes (back) into the body; a body without inline media is left as
    /// it is.
    pub fn with_inline_bytes(mut self, stored: Vec<u8>) -> Self {
        if let Self::Media {
            source: MediaSource::Inline { bytes },
            ..
        } = &mut self
        {
            *bytes = stored;
        }
        self
    }
}

/// A send that passed every contract rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedSend {
    pub to: Recipient,
    pub content: MessageBody,
    pub reply_to: Option<String>,
    pub idempotency_key: Option<String>,
}

impl SendRequest {
    /// Applies every rule of the contract and reports all offending fields at once.
    /// Oversized inline media is `413 payload_too_large` rather than a field error.
    pub fn validate(&self, limits: &MediaLimits) -> Result<ValidatedSend, ApiError> {
        let mut errors = FieldErrors::new();
        let to = match Recipient::parse(&self.to) {
            Ok(to) => Some(to),
            Err(err) => {
                errors.extend(err.details.unwrap_or_default());
                None
            }
        };
        let given = [
            self.text.is_some(),
            self.media.is_some(),
            self.location.is_some(),
            self.contacts.is_some(),
            self.poll.is_some(),
        ];
        let content = match given.iter().filter(|g| **g).count() {
            1 => self.content(limits, &mut errors)?,
            n => {
                let why = if n == 0 { "is required" } else { "only one" };
                errors.insert(
                    "text".into(),
                    format!(
                        "exactly one of 'text', 'media', 'location', 'contacts' or 'poll' ({why})"
                    ),
                );
                None
            }
        };
        if let Some(reply_to) = &self.reply_to
            && (reply_to.is_empty()
                || reply_to.len() > 128
                || !reply_to.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            errors.insert(
                "replyTo".into(),
                "must be a message id (1-128 letters and digits)".into(),
            );
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX)
        {
            errors.insert(
                "idempotencyKey".into(),
                format!("must be 1-{IDEMPOTENCY_KEY_MAX} characters"),
            );
        }
        match (to, content) {
            (Some(to), Some(content)) if errors.is_empty() => Ok(ValidatedSend {
                to,
                content,
                reply_to: self.reply_to.clone(),
                idempotency_key: self.idempotency_key.clone(),
            }),
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// Numbers one message may mention.
pub const MENTIONS_MAX: usize = 256;

impl SendRequest {
    /// The mentioned numbers as digits (what `@<digits>` in the text refers to).
    fn mentions(&self, errors: &mut FieldErrors) -> Vec<String> {
        let Some(mentions) = &self.mentions else {
            return Vec::new();
        };
        if mentions.len() > MENTIONS_MAX {
            errors.insert(
                "mentions".into(),
                format!("may list at most {MENTIONS_MAX} numbers"),
            );
            return Vec::new();
        }
        let mut digits = Vec::with_capacity(mentions.len());
        for (i, number) in mentions.iter().enumerate() {
            match crate::normalize_phone(number) {
                Some(d) => digits.push(d),
                None => {
                    errors.insert(
                        format!("mentions[{i}]"),
                        "must be a phone number with country code".into(),
                    );
                }
            }
        }
        digits
    }

    /// The one content the request gives, checked (`None` with `errors` when it is bad).
    fn content(
        &self,
        limits: &MediaLimits,
        errors: &mut FieldErrors,
    ) -> Result<Option<MessageBody>, ApiError> {
        if let Some(text) = &self.text {
            check_text("text", text, errors);
            return Ok(Some(MessageBody::Text {
                text: text.clone(),
                mentions: self.mentions(errors),
            }));
        }
        if let Some(media) = &self.media {
            let mentions = self.mentions(errors);
            return Ok(validate_media(media, limits, errors)?.map(|mut body| {
                if let MessageBody::Media { mentions: m, .. } = &mut body {
                    *m = mentions;
                }
                body
            }));
        }
        if self.mentions.is_some() {
            errors.insert(
                "mentions".into(),
                "only a text or a media caption can mention".into(),
            );
        }
        if let Some(location) = &self.location {
            let before = errors.len();
            location.check(errors);
            return Ok((errors.len() == before).then(|| MessageBody::Location {
                latitude: location.latitude,
                longitude: location.longitude,
                name: location.name.clone(),
                address: location.address.clone(),
            }));
        }
        if let Some(poll) = &self.poll {
            let before = errors.len();
            poll.check(errors);
            return Ok((errors.len() == before).then(|| MessageBody::Poll {
                question: poll.question.clone(),
                options: poll.options.clone(),
                selectable_count: poll.selectable_count,
                secret: String::new(),
            }));
        }
        let contacts = self.contacts.as_deref().unwrap_or_default();
        if contacts.is_empty() || contacts.len() > CONTACTS_MAX {
            errors.insert(
                "contacts".into(),
                format!("must list 1-{CONTACTS_MAX} contacts"),
            );
            return Ok(None);
        }
        let shared: Vec<_> = contacts
            .iter()
            .enumerate()
            .map(|(i, c)| c.to_shared(&format!("contacts[{i}]"), errors))
            .collect();
        Ok(shared
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .map(|contacts| MessageBody::Contacts { contacts }))
    }
}

pub(crate) fn check_text(field: &str, text: &str, errors: &mut FieldErrors) {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        errors.insert(field.into(), "must not be empty".into());
    } else if chars > TEXT_MAX_CHARS {
        errors.insert(
            field.into(),
            format!("must be at most {TEXT_MAX_CHARS} characters (got {chars})"),
        );
    }
}

fn validate_media(
    media: &MediaSpec,
    limits: &MediaLimits,
    errors: &mut FieldErrors,
) -> Result<Option<MessageBody>, ApiError> {
    let mut inline_mime = None;
    let source = match (&media.url, &media.data) {
        (Some(_), Some(_)) | (None, None) => {
            errors.insert(
                "media".into(),
                "give exactly one of 'media.url' or 'media.data'".into(),
            );
            None
        }
        (Some(url), None) => match crate::session::validate_webhook_url(url) {
            Ok(()) => Some(MediaSource::Url { url: url.clone() }),
            Err(why) => {
                errors.insert("media.url".into(), why);
                None
            }
        },
        (None, Some(data)) => {
            let (declared_mime, payload) = split_data_url(data);
            inline_mime = declared_mime;
            // base64 grows 4/3: refuse before decoding what cannot fit.
            if payload.len() / 4 * 3 > limits.inline_max_bytes + 3 {
                return Err(too_large(limits.inline_max_bytes));
            }
            let cleaned: String = payload
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            match base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()) {
                Ok(bytes) if bytes.is_empty() => {
                    errors.insert("media.data".into(), "must not be empty".into());
                    None
                }
                Ok(bytes) if bytes.len() > limits.inline_max_bytes => {
                    return Err(too_large(limits.inline_max_bytes));
                }
                Ok(bytes) => Some(MediaSource::Inline { bytes }),
                Err(e) => {
                    errors.insert("media.data".into(), format!("is not valid base64 ({e})"));
                    None
                }
            }
        }
    };
    let mime_type = media
        .mime_type
        .clone()
        .or(inline_mime)
        .unwrap_or_else(|| media.kind.default_mime().into());
    if !is_mime(&mime_type) {
        errors.insert(
            "media.mimeType".into(),
            "must look like 'type/subtype'".into(),
        );
    }
    if let Some(name) = &media.file_name
        && (name.is_empty() || name.len() > FILE_NAME_MAX || name.contains(['/', '\\', '\0']))
    {
        errors.insert(
            "media.fileName".into(),
            format!("must be 1-{FILE_NAME_MAX} characters without path separators"),
        );
    }
    if let Some(caption) = &media.caption {
        check_text("media.caption", caption, errors);
    }
    if media.ptt && media.kind != MediaType::Audio {
        errors.insert("media.ptt".into(), "only audio can be a voice note".into());
    }
    Ok(source.map(|source| MessageBody::Media {
        kind: media.kind,
        source,
        mime_type,
        file_name: media.file_name.clone(),
        caption: media.caption.clone(),
        mentions: Vec::new(),
        ptt: media.ptt,
    }))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "Inline media is larger than {} MiB; send it by 'media.url' instead",
            limit / (1024 * 1024)
        ),
    )
}

/// `data:image/png;base64,AAAA` → (Some("image/png"), "AAAA"); plain base64 passes through.
fn split_data_url(data: &str) -> (Option<String>, &str) {
    if let Some(rest) = data.strip_prefix("data:")
        && let Some((header, payload)) = rest.split_once(',')
    {
        let mime = header.trim_end_matches(";base64");
        return ((!mime.is_empty()).then(|| mime.to_string()), payload);
    }
    (None, data)
}

fn is_mime(raw: &str) -> bool {
    let essence = raw.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    raw.len() <= 255
        && essence
            .split_once('/')
            .is_some_and(|(t, s)| token(t) && token(s))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Sent,
            Self::Delivered,
            Self::Read,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Receipts arrive out of order; a status only ever moves forward.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    pub id: String,
    pub to: String,
    pub status: MessageStatus,
    pub error: Option<crate::ErrorDetail>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    /// `false` for a message someone sent to this session: then `to` is the chat it
    /// arrived in, `from` its author, and `status` `delivered` (or `read` once marked read).
    #[serde(default = "from_me_default")]
    pub from_me: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::MessageKind>,
    /// A poll's current tally: each option with who picked it (a voter's latest vote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<Vec<crate::PollOptionVotes>>,
}

fn from_me_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(to: &str, text: &str) -> SendRequest {
        SendRequest {
            to: to.into(),
            text: Some(text.into()),
            ..Default::default()
        }
    }

    fn media(data: &str) -> SendRequest {
        SendRequest {
            to: "971501234567".into(),
            media: Some(MediaSpec {
                kind: MediaType::Document,
                url: None,
                data: Some(data.into()),
                mime_type: Some("application/pdf".into()),
                file_name: Some("invoice.pdf".into()),
                caption: None,
                ptt: false,
            }),
            ..Default::default()
        }
    }

    fn field_errors(req: &SendRequest) -> FieldErrors {
        req.validate(&MediaLimits::default())
            .unwrap_err()
            .details
            .unwrap()
    }

    #[test]
    fn a_valid_text_send_normalises_the_number() {
        let ok = text("+971 50-123 4567", "Invoice #123 is ready")
            .validate(&MediaLimits::default())
            .unwrap();
        assert_eq!(ok.to.jid(), "971501234567@s.whatsapp.net");
        assert_eq!(
            ok.content,
            MessageBody::Text {
                text: "Invoice #123 is ready".into(),
                mentions: Vec::new(),
            }
        );
    }

    #[test]
    fn text_bounds() {
        assert!(field_errors(&text("971501234567", "")).contains_key("text"));
        assert!(field_errors(&text("971501234567", "   ")).contains_key("text"));
        assert!(
            field_errors(&text("971501234567", &"é".repeat(TEXT_MAX_CHARS + 1)))
                .contains_key("text")
        );
        assert!(
            text("971501234567", &"é".repeat(TEXT_MAX_CHARS))
                .validate(&MediaLimits::default())
                .is_ok()
        );
    }

    #[test]
    fn text_and_media_together_or_neither() {
        let mut both = media("aGVsbG8=");
        both.text = Some("hi".into());
        assert!(field_errors(&both).contains_key("text"));
        assert!(
            field_errors(&SendRequest {
                to: "971501234567".into(),
                ..Default::default()
            })
            .contains_key("text")
        );
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let errors = field_errors(&text("12", ""));
        assert!(errors.contains_key("to") && errors.contains_key("text"));
    }

    #[test]
    fn media_base64_rules() {
        assert!(field_errors(&media("not base64!!")).contains_key("media.data"));
        let ok = media("data:application/pdf;base64,aGVsbG8=")
            .validate(&MediaLimits::default())
            .unwrap();
        let MessageBody::Media { source, .. } = ok.content else {
            panic!("media")
        };
        assert_eq!(
            source,
            MediaSource::Inline {
                bytes: b"hello".to_vec()
            }
        );
    }

    #[test]
    fn oversized_inline_media_is_413() {
        let limits = MediaLimits {
            inline_max_bytes: 4,
            url_max_bytes: 10,
        };
        let err = media("aGVsbG8gd29ybGQ=").validate(&limits).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn mime_and_file_name_rules() {
        let mut req = media("aGVsbG8=");
        if let Some(m) = req.media.as_mut() {
            m.mime_type = Some("pdf".into());
            m.file_name = Some("../etc/passwd".into());
        }
        let errors = field_errors(&req);
        assert!(errors.contains_key("media.mimeType") && errors.contains_key("media.fileName"));
    }

    #[test]
    fn status_rank_only_moves_forward() {
        assert!(MessageStatus::Read.rank() > MessageStatus::Delivered.rank());
        assert_eq!(
            MessageStatus::parse("delivered"),
            Some(MessageStatus::Delivered)
        );
    }

    /// Outboxes on disk hold bodies in this JSON: it must read back across versions, and
    /// inline bytes never enter it.
    #[test]
    fn stored_bodies_keep_their_json() {
        let media = MessageBody::Media {
            kind: MediaType::Image,
            source: MediaSource::Inline {
                bytes: vec![1, 2, 3],
            },
            mime_type: "image/png".into(),
            file_name: None,
            caption: Some("hi".into()),
            mentions: Vec::new(),
            ptt: false,
        };
        let json = serde_json::json!({
            "type": "media", "kind": "image", "source": { "from": "inline" },
            "mimeType": "image/png", "fileName": null, "caption": "hi"
        });
        assert_eq!(serde_json::to_value(&media).unwrap(), json);
        let read: MessageBody = serde_json::from_value(json).unwrap();
        assert_eq!(read.with_inline_bytes(vec![1, 2, 3]), media);
        let url = serde_json::json!({
            "type": "media", "kind": "document",
            "source": { "from": "url", "url": "https://example.com/a.pdf" },
            "mimeType": "application/pdf", "fileName": "a.pdf", "caption": null
        });
        let read: MessageBody = serde_json::from_value(url.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), url);
        let text = serde_json::json!({ "type": "text", "text": "hello" });
        let read: MessageBody = serde_json::from_value(text.clone()).unwrap();
        assert_eq!(
            read,
            MessageBody::Text {
                text: "hello".into(),
                mentions: Vec::new(),
            }
        );
        assert_eq!(serde_json::to_value(&read).unwrap(), text);
    }

    #[test]
    fn mentions_are_numbers_of_a_text_or_caption() {
        let mut send = text("971501234567", "Hi @971501234568");
        send.mentions = Some(vec!["+971 50 123 4568".into()]);
        let ok = send.validate(&MediaLimits::default()).unwrap();
        assert_eq!(
            ok.content,
            MessageBody::Text {
                text: "Hi @971501234568".into(),
                mentions: vec!["971501234568".into()],
            }
        );
        send.mentions = Some(vec!["12".into()]);
        let error = send.validate(&MediaLimits::default()).unwrap_err();
        assert!(error.details.unwrap().contains_key("mentions[0]"));
        let located = SendRequest {
            to: "971501234567".into(),
            location: Some(LocationSpec {
                latitude: 1.0,
                longitude: 1.0,
                name: None,
                address: None,
            }),
            mentions: Some(vec!["971501234568".into()]),
            ..Default::default()
        };
        let error = located.validate(&MediaLimits::default()).unwrap_err();
        assert!(error.details.unwrap().contains_key("mentions"));
    }
}
