//! Builds the protobuf message for an outgoing send, uploading media first.

use wagate_api::{MediaSource, MediaType, MessageBody, SharedContact};
use whatsapp_rust::media::{self, AudioOptions, DocumentOptions, ImageOptions, VideoOptions};
use whatsapp_rust::prelude::*;
use whatsapp_rust::upload::UploadOptions;
use whatsapp_rust::wacore::download::MediaType as WaMediaType;

use crate::engine::{EngineError, OutgoingMessage};

/// The quote and mentions of a message, when it has either. A quote names the quoted
/// message's author and carries its words, as WhatsApp's apps send a reply.
fn context(
    client: &Client,
    message: &OutgoingMessage,
    mentions: &[String],
) -> Option<Box<wa::ContextInfo>> {
    if message.reply_to.is_none() && mentions.is_empty() {
        return None;
    }
    let quote = message.reply_to.as_ref().and(message.quote.as_ref());
    let participant = quote.and_then(|q| match &q.author {
        Some(author) if author.contains('@') => Some(author.clone()),
        Some(digits) => Some(format!("{digits}@s.whatsapp.net")),
        None => client.pn().map(|own| own.to_non_ad().to_string()),
    });
    let quoted_message = quote.and_then(|q| q.text.clone()).map(wa::Message::text);
    Some(Box::new(wa::ContextInfo {
        stanza_id: message.reply_to.clone(),
        participant,
        quoted_message: quoted_message.into(),
        mentioned_jid: mentions
            .iter()
            .map(|digits| format!("{digits}@s.whatsapp.net"))
            .collect(),
        ..Default::default()
    }))
}

pub async fn build(client: &Client, message: &OutgoingMessage) -> Result<wa::Message, EngineError> {
    let mentions = match &message.body {
        MessageBody::Text { mentions, .. } | MessageBody::Media { mentions, .. } => {
            mentions.as_slice()
        }
        _ => &[],
    };
    let context = context(client, message, mentions);
    let (kind, bytes, mime_type, file_name, caption, ptt) = match &message.body {
        MessageBody::Text { text, .. } => {
            return Ok(match context {
                Some(ctx) => wa::Message::text_with_context(text.clone(), *ctx),
                None => wa::Message::text(text.clone()),
            });
        }
        MessageBody::Media {
            kind,
            source: MediaSource::Inline { bytes },
            mime_type,
            file_name,
            caption,
            ptt,
            ..
        } => (kind, bytes, mime_type, file_name, caption, *ptt),
        MessageBody::Media {
            source: MediaSource::Url { .. },
            ..
        } => return Err(EngineError::unfetched_media()),
        MessageBody::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            return Ok(wa::Message {
                location_message: MessageField::some(wa::message::LocationMessage {
                    degrees_latitude: Some(*latitude),
                    degrees_longitude: Some(*longitude),
                    name: name.clone(),
                    address: address.clone(),
                    context_info: context.map(|c| *c).into(),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        MessageBody::Contacts { contacts } => return Ok(contacts_message(contacts, context)),
        MessageBody::Poll {
            question,
            options,
            selectable_count,
            secret,
        } => return poll_message(question, options, *selectable_count, secret, context),
        MessageBody::Reaction { target, emoji } => {
            let key = wa::MessageKey {
                remote_jid: Some(message.to.clone()),
                from_me: Some(target.from_me),
                id: Some(target.id.clone()),
                participant: target.participant.clone(),
            };
            return Ok(
                whatsapp_rust::wacore::proto_helpers::build_reaction_message(
                    key,
                    emoji.clone(),
                    chrono::Utc::now().timestamp_millis(),
                ),
            );
        }
        // Edits and revokes are not plain sends: the engine sends them with the library's
        // edit and revoke calls (which mark the stanza as such).
        MessageBody::Edit { .. } | MessageBody::Revoke { .. } => {
            return Err(EngineError::Permanent(
                "edits and revokes are sent by their own calls".into(),
            ));
        }
    };
    let wa_type = match kind {
        MediaType::Image => WaMediaType::Image,
        MediaType::Video => WaMediaType::Video,
        MediaType::Audio => WaMediaType::Audio,
        MediaType::Document => WaMediaType::Document,
        MediaType::Sticker => WaMediaType::Sticker,
    };
    let upload = client
        .upload(bytes.clone(), wa_type, UploadOptions::default())
        .await
        .map_err(|e| EngineError::Transient(format!("media upload failed: {e}")))?;
    let mimetype = Some(mime_type.clone());
    Ok(match kind {
        MediaType::Image => media::image_message(
            upload,
            ImageOptions {
                caption: caption.clone(),
                mimetype,
                context_info: context,
                ..Default::default()
            },
        ),
        MediaType::Video => media::video_message(
            upload,
            VideoOptions {
                caption: caption.clone(),
                mimetype,
                context_info: context,
                ..Default::default()
            },
        ),
        MediaType::Audio => media::audio_message(
            upload,
            AudioOptions {
                // WhatsApp plays voice notes in Ogg Opus only; anything else stays a file.
                ptt: (ptt && is_opus(mime_type)).then_some(true),
                mimetype,
                context_info: context,
                ..Default::default()
            },
        ),
        MediaType::Document => media::document_message(
            upload,
            DocumentOptions {
                mimetype,
                file_name: file_name.clone(),
                caption: caption.clone(),
                context_info: context,
                ..Default::default()
            },
        ),
        MediaType::Sticker => wa::Message {
            sticker_message: MessageField::some(wa::message::StickerMessage {
                url: Some(upload.url),
                direct_path: Some(upload.direct_path),
                media_key: Some(upload.media_key.to_vec()),
                file_enc_sha256: Some(upload.file_enc_sha256.to_vec()),
                file_sha256: Some(upload.file_sha256.to_vec()),
                file_length: Some(upload.file_length),
                media_key_timestamp: Some(upload.media_key_timestamp),
                mimetype,
                ..Default::default()
            }),
            ..Default::default()
        },
    })
}

/// The new content of an edit: a text, or (for media) the new caption in the kind of
/// message the original was, as WhatsApp's apps edit a caption.
pub fn edited_content(text: &str, caption_of: Option<MediaType>) -> wa::Message {
    let caption = Some(text.to_string());
    match caption_of {
        Some(MediaType::Image) => wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                caption,
                ..Default::default()
            }),
            ..Default::default()
        },
        Some(MediaType::Video) => wa::Message {
            video_message: MessageField::some(wa::message::VideoMessage {
                caption,
                ..Default::default()
            }),
            ..Default::default()
        },
        Some(MediaType::Document) => wa::Message {
            document_message: MessageField::some(wa::message::DocumentMessage {
                caption,
                ..Default::default()
            }),
            ..Default::default()
        },
        _ => wa::Message::text(text.to_string()),
    }
}

/// `audio/ogg; codecs=opus`, `audio/ogg`, `audio/opus`: what a voice note may be.
fn is_opus(mime_type: &str) -> bool {
    let essence = mime_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("audio/ogg") || essence.eq_ignore_ascii_case("audio/opus")
}

/// A poll as WhatsApp's apps create it: v3 for a single choice, the first form otherwise,
/// with its secret in the message context so voters' clients can encrypt their votes.
fn poll_message(
    question: &str,
    options: &[String],
    selectable_count: u32,
    secret: &str,
    context: Option<Box<wa::ContextInfo>>,
) -> Result<wa::Message, EngineError> {
    let secret = hex::decode(secret)
        .ok()
        .filter(|s| s.len() == 32)
        .ok_or_else(|| EngineError::Permanent("a poll needs its 32-byte secret".into()))?;
    let poll = wa::message::PollCreationMessage {
        name: Some(question.to_string()),
        options: options
            .iter()
            .map(|name| wa::message::poll_creation_message::Option {
                option_name: Some(name.clone()),
                option_hash: None,
            })
            .collect(),
        selectable_options_count: Some(selectable_count),
        poll_content_type: Some(wa::message::PollContentType::TEXT),
        context_info: context.map(|c| *c).into(),
        ..Default::default()
    };
    let mut message = if selectable_count == 1 {
        wa::Message {
            poll_creation_message_v3: MessageField::some(poll),
            ..Default::default()
        }
    } else {
        wa::Message {
            poll_creation_message: MessageField::some(poll),
            ..Default::default()
        }
    };
    message.message_context_info = MessageField::some(wa::MessageContextInfo {
        message_secret: Some(secret),
        ..Default::default()
    });
    Ok(message)
}

/// One contact is a `contactMessage`; several are a `contactsArrayMessage`, as WhatsApp's
/// apps send them.
fn contacts_message(
    contacts: &[SharedContact],
    context: Option<Box<wa::ContextInfo>>,
) -> wa::Message {
    let card = |contact: &SharedContact| wa::message::ContactMessage {
        display_name: Some(contact.display_name.clone()),
        vcard: Some(contact.vcard.clone()),
        ..Default::default()
    };
    match contacts {
        [one] => wa::Message {
            contact_message: MessageField::some(wa::message::ContactMessage {
                context_info: context.map(|c| *c).into(),
                ..card(one)
            }),
            ..Default::default()
        },
        many => wa::Message {
            contacts_array_message: MessageField::some(wa::message::ContactsArrayMessage {
                display_name: Some(format!("{} contacts", many.len())),
                contacts: many.iter().map(card).collect(),
                context_info: context.map(|c| *c).into(),
            }),
            ..Default::default()
        },
    }
}
