//! Converts the library's decrypted inbound messages into the gateway's shape,
//! downloading media on the way.

use chrono::Utc;
use wagate_api::poll::{POLL_OPTION_MAX, POLL_OPTIONS_MAX, POLL_QUESTION_MAX};
use wagate_api::{LocationSpec, MessageKind, PollSpec, QuotedMessage, SharedContact};
use whatsapp_rust::download::Downloadable;
use whatsapp_rust::prelude::*;

use crate::engine::{EncryptedVote, InboundAction, InboundAttachment, InboundMessage, InboundPoll};
use crate::inbound_media::{AttachmentContent, download_to_volume};
use whatsapp_rust::waproto::whatsapp::message::protocol_message::Type as ProtocolType;

/// Where inbound media is bounded and put: the cap, and the folder of files in progress
/// (on the session volume, so the finished file is renamed into place, not copied).
#[derive(Debug, Clone)]
pub struct MediaSink {
    pub cap: u64,
    pub incoming: std::path::PathBuf,
}

/// `None` for protocol-only stanzas. Messages the account sent from its phone (or another
/// linked device) arrive as copies and are converted too, marked `from_me`.
pub async fn convert(
    client: Option<&Client>,
    sink: &MediaSink,
    inbound: &whatsapp_rust::prelude::InboundMessage,
) -> Option<InboundMessage> {
    let info = &inbound.info;
    let base = inbound.message.get_base_message();
    let sender = &info.source.sender;
    let mut text = base.conversation.clone().or_else(|| {
        base.extended_text_message
            .as_option()
            .and_then(|m| m.text.clone())
    });
    let mut media: Option<(MediaMeta, &dyn Downloadable)> = None;
    let mut location = None;
    let mut contacts = Vec::new();
    let mut action = None;
    let mut poll = None;
    let kind = if let Some(m) = base.image_message.as_option() {
        media = Some((
            MediaMeta::new(&m.mimetype, None, &m.caption, m.file_length, "image/jpeg"),
            m,
        ));
        MessageKind::Image
    } else if let Some(m) = base.video_message.as_option() {
        media = Some((
            MediaMeta::new(&m.mimetype, None, &m.caption, m.file_length, "video/mp4"),
            m,
        ));
        MessageKind::Video
    } else if let Some(m) = base.audio_message.as_option() {
        media = Some((
            MediaMeta::new(&m.mimetype, None, &None, m.file_length, "audio/ogg"),
            m,
        ));
        if m.ptt == Some(true) {
            MessageKind::Voice
        } else {
            MessageKind::Audio
        }
    } else if let Some(m) = base.document_message.as_option() {
        media = Some((
            MediaMeta::new(
                &m.mimetype,
                m.file_name.clone(),
                &m.caption,
                m.file_length,
                "application/octet-stream",
            ),
            m,
        ));
        MessageKind::Document
    } else if let Some(m) = base.sticker_message.as_option() {
        media = Some((
            MediaMeta::new(&m.mimetype, None, &None, m.file_length, "image/webp"),
            m,
        ));
        MessageKind::Sticker
    } else if let Some(loc) = base.location_message.as_option() {
        let (latitude, longitude) = (
            loc.degrees_latitude.unwrap_or_default(),
            loc.degrees_longitude.unwrap_or_default(),
        );
        text = Some(format!("{latitude},{longitude}"));
        location = Some(LocationSpec {
            latitude,
            longitude,
            name: loc.name.clone(),
            address: loc.address.clone(),
        });
        MessageKind::Location
    } else if let Some(contact) = base.contact_message.as_option() {
        let card = shared_contact(contact);
        text = card.as_ref().map(|c| c.vcard.clone());
        contacts.extend(card);
        MessageKind::Contact
    } else if let Some(array) = base.contacts_array_message.as_option() {
        contacts.extend(
            array
                .contacts
                .iter()
                .filter_map(shared_contact)
                .take(INBOUND_CARDS_MAX),
        );
        text = array
            .display_name
            .as_deref()
            .map(|n| n.chars().take(INBOUND_CARD_NAME_MAX_CHARS).collect());
        MessageKind::Contact
    } else if let Some(reaction) = base.reaction_message.as_option() {
        text = reaction.text.clone();
        let target = reaction.key.as_option().and_then(|k| k.id.clone())?;
        action = Some(InboundAction::Reaction {
            target,
            emoji: reaction.text.clone().unwrap_or_default(),
        });
        MessageKind::Reaction
    } else if let Some(created) = [
        &base.poll_creation_message,
        &base.poll_creation_message_v2,
        &base.poll_creation_message_v3,
    ]
    .into_iter()
    .find_map(|m| m.as_option())
    {
        // Within WhatsApp's own bounds: a stranger's poll of 10,000 options or a question
        // of a megabyte is not stored, tallied or posted as such.
        let mut options: Vec<String> = Vec::new();
        for name in created.options.iter().filter_map(|o| o.option_name.clone()) {
            if name.chars().count() <= POLL_OPTION_MAX && !options.contains(&name) {
                options.push(name);
            }
        }
        options.truncate(POLL_OPTIONS_MAX);
        let spec = PollSpec {
            question: created
                .name
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(POLL_QUESTION_MAX)
                .collect(),
            selectable_count: created
                .selectable_options_count
                .unwrap_or_default()
                .min(options.len() as u32),
            options,
        };
        text = Some(spec.question.clone());
        let secret = [
            &inbound.message.message_context_info,
            &base.message_context_info,
        ]
        .into_iter()
        .find_map(|c| c.as_option().and_then(|c| c.message_secret.clone()))
        .filter(|s| s.len() == 32);
        poll = Some(InboundPoll { spec, secret });
        MessageKind::Poll
    } else if let Some(update) = base.poll_update_message.as_option() {
        let key = update.poll_creation_message_key.as_option()?;
        let vote = update.vote.as_option()?;
        let voter = sender.to_non_ad();
        // Who created the poll, as the voter's client named them when it keyed the vote:
        // the voter; else the group member named; else the other side of the direct chat
        // (the contact when we voted from the phone, this account when the contact voted).
        let creator = if key.from_me == Some(true) {
            voter.clone()
        } else if let Some(participant) = key.participant.as_deref() {
            participant.parse::<Jid>().ok()?.to_non_ad()
        } else if info.source.is_from_me {
            info.source.chat.to_non_ad()
        } else {
            let own = client.and_then(|c| if voter.is_lid() { c.lid() } else { c.pn() });
            own?.to_non_ad()
        };
        // The voter's clock orders its votes; it may not claim a time past the server's.
        let server_ms = info.timestamp.timestamp_millis();
        let cast_at = update
            .sender_timestamp_ms
            .unwrap_or(server_ms)
            .min(server_ms.saturating_add(60_000));
        action = Some(InboundAction::PollVote {
            target: key.id.clone()?,
            vote: EncryptedVote {
                payload: vote.enc_payload.clone()?,
                iv: vote.enc_iv.clone()?,
                creator: creator.to_string(),
                voter: voter.to_string(),
                cast_at,
            },
        });
        MessageKind::Poll
    } else if let Some(protocol) = base.protocol_message.as_option() {
        // Edits and revokes; other protocol messages (key shares, history sync) are no
        // message of the chat.
        let target = protocol.key.as_option().and_then(|k| k.id.clone())?;
        action = Some(match protocol.r#type {
            Some(ProtocolType::REVOKE) => InboundAction::Revoked { target },
            Some(ProtocolType::MESSAGE_EDIT) => {
                let edited = protocol.edited_message.as_option()?;
                // A text, or the new caption of a photo, video or document.
                let text = edited
                    .conversation
                    .clone()
                    .or_else(|| {
                        edited
                            .extended_text_message
                            .as_option()
                            .and_then(|m| m.text.clone())
                    })
                    .or_else(|| {
                        edited
                            .image_message
                            .as_option()
                            .and_then(|m| m.caption.clone())
                    })
                    .or_else(|| {
                        edited
                            .video_message
                            .as_option()
                            .and_then(|m| m.caption.clone())
                    })
                    .or_else(|| {
                        edited
                            .document_message
                            .as_option()
                            .and_then(|m| m.caption.clone())
                    })?;
                InboundAction::Edited { target, text }
            }
            _ => return None,
        });
        MessageKind::Unknown
    } else if text.is_some() {
        MessageKind::Text
    } else {
        MessageKind::Unknown
    };
    let media = match (media, client) {
        (Some((meta, downloadable)), Some(client)) => {
            Some(download(client, sink, meta, downloadable).await)
        }
        _ => None,
    };
    if let Some(m) = &media {
        text = text.or_else(|| m.caption.clone());
    }
    let context = context_info(base);
    let quoted = match context {
        Some(c) => match c.stanza_id.clone() {
            Some(message_id) => Some(QuotedMessage {
                message_id,
                from: match c.participant.as_deref().and_then(|p| p.parse::<Jid>().ok()) {
                    Some(author) => Some(identify(client, &author, None).await.phone_or_jid),
                    None => c.participant.as_deref().map(phone_or_jid),
                },
            }),
            None => None,
        },
        None => None,
    };
    let mut mentions = Vec::new();
    for mentioned in context
        .map(|c| c.mentioned_jid.as_slice())
        .unwrap_or_default()
        .iter()
        .take(MENTIONS_MAX)
    {
        mentions.push(match mentioned.parse::<Jid>() {
            Ok(jid) => identify(client, &jid, None).await.phone_or_jid,
            Err(_) => phone_or_jid(mentioned),
        });
    }
    let mut author = identify(client, sender, info.source.sender_alt.as_ref()).await;
    if info.source.is_from_me
        && author.phone.is_none()
        && let Some(own) = client.and_then(|c| c.pn())
    {
        author.phone_or_jid = own.user.to_string();
    }
    // A direct chat is named by the person's phone whenever it is known, however WhatsApp
    // addressed this message: one conversation keeps one name (and replies quote within it).
    let chat = if info.source.is_group {
        info.source.chat.to_string()
    } else if !info.source.is_from_me {
        match &author.phone {
            Some(phone) => format!("{phone}@s.whatsapp.net"),
            None => info.source.chat.to_non_ad().to_string(),
        }
    } else {
        let peer = identify(client, &info.source.chat, None).await;
        match peer.phone {
            Some(phone) => format!("{phone}@s.whatsapp.net"),
            None => info.source.chat.to_non_ad().to_string(),
        }
    };
    Some(InboundMessage {
        id: info.id.to_string(),
        from: author.phone_or_jid,
        from_lid: author.lid,
        from_me: info.source.is_from_me,
        chat,
        is_group: info.source.is_group,
        push_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        timestamp: if info.timestamp.timestamp() > 0 {
            info.timestamp
        } else {
            Utc::now()
        },
        kind,
        text,
        media,
        location,
        contacts,
        poll,
        action,
        quoted,
        mentions,
    })
}

/// The quote and mentions of a message: in the context of whichever content it carries.
fn context_info(base: &wa::Message) -> Option<&wa::ContextInfo> {
    [
        base.extended_text_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.image_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.video_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.audio_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.document_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.sticker_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.location_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
        base.contact_message
            .as_option()
            .and_then(|m| m.context_info.as_option()),
    ]
    .into_iter()
    .flatten()
    .next()
}

/// Mentions a stranger's message may make the session resolve and pass on (what a send
/// may list too).
const MENTIONS_MAX: usize = wagate_api::message::MENTIONS_MAX;

/// Someone as an app should see them: phone digits whenever this session knows them, and
/// their LID whenever WhatsApp used one.
pub(super) struct Identity {
    /// Phone digits, or the JID when no phone is known (a LID nobody has resolved yet).
    pub phone_or_jid: String,
    pub phone: Option<String>,
    /// `digits@lid`.
    pub lid: Option<String>,
}

/// Who `jid` is: the phone WhatsApp put beside it (`alt`: `sender_pn`/`participant_pn`
/// for a LID, `sender_lid` for a phone), else what the library's LID store learned (from
/// earlier stanzas, usync answers, device notifications).
pub(super) async fn identify(client: Option<&Client>, jid: &Jid, alt: Option<&Jid>) -> Identity {
    let jid = jid.to_non_ad();
    if jid.is_pn() {
        return Identity {
            phone_or_jid: jid.user.to_string(),
            phone: Some(jid.user.to_string()),
            lid: alt
                .filter(|a| a.is_lid())
                .map(|a| a.to_non_ad().to_string()),
        };
    }
    if !jid.is_lid() {
        return Identity {
            phone_or_jid: jid.to_string(),
            phone: None,
            lid: None,
        };
    }
    let mut phone = alt.filter(|a| a.is_pn()).map(|a| a.user.to_string());
    if phone.is_none()
        && let Some(client) = client
    {
        match client.get_lid_pn_entry(&jid).await {
            Ok(entry) => phone = entry.map(|e| e.phone_number.to_string()),
            Err(e) => tracing::debug!(error = %e, "LID store lookup failed"),
        }
    }
    Identity {
        phone_or_jid: phone.clone().unwrap_or_else(|| jid.to_string()),
        phone,
        lid: Some(jid.to_string()),
    }
}

/// Phone digits for a phone-number JID (`971501234567@s.whatsapp.net`), else the JID as is
/// (a LID, a group).
pub(super) fn phone_or_jid(jid: &str) -> String {
    match jid.split_once('@') {
        Some((user, "s.whatsapp.net")) => user.split(':').next().unwrap_or(user).to_string(),
        _ => jid.to_string(),
    }
}

/// What a stranger's contact message may make the session store and post to the webhook:
/// WhatsApp's apps share at most a few hundred cards, each a few hundred bytes.
const INBOUND_CARDS_MAX: usize = 256;
const INBOUND_VCARD_MAX_BYTES: usize = 16 * 1024;
const INBOUND_CARD_NAME_MAX_CHARS: usize = 256;

/// A card as WhatsApp carries it; one without a vCard says nothing worth passing on, and
/// one larger than any phone writes is dropped.
fn shared_contact(contact: &wa::message::ContactMessage) -> Option<SharedContact> {
    let vcard = contact.vcard.clone()?;
    if vcard.len() > INBOUND_VCARD_MAX_BYTES {
        tracing::info!(bytes = vcard.len(), "oversized contact card dropped");
        return None;
    }
    Some(SharedContact {
        display_name: contact
            .display_name
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(INBOUND_CARD_NAME_MAX_CHARS)
            .collect(),
        vcard,
    })
}

struct MediaMeta {
    mime_type: String,
    file_name: Option<String>,
    caption: Option<String>,
    size: u64,
}

impl MediaMeta {
    fn new(
        mime: &Option<String>,
        file_name: Option<String>,
        caption: &Option<String>,
        size: Option<u64>,
        fallback: &str,
    ) -> Self {
        Self {
            mime_type: mime.clone().unwrap_or_else(|| fallback.to_string()),
            file_name,
            caption: caption.clone(),
            size: size.unwrap_or_default(),
        }
    }
}

/// Whether the library would fetch the attachment from the media hosts WhatsApp named.
/// The sender writes the message, so it chooses `static_url` (fetched as given) and
/// `direct_path` (appended to `https://{host}`: `@10.0.0.1/x` would make the host a user
/// name); either could point the pod at an internal address, past the egress guard that
/// this download does not go through.
fn from_whatsapp_cdn(downloadable: &dyn Downloadable) -> bool {
    if downloadable.static_url().is_some() {
        return false;
    }
    downloadable.direct_path().is_some_and(|path| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path
                .chars()
                .any(|c| matches!(c, '@' | '\\' | '#') || c.is_whitespace() || c.is_control())
    })
}

/// Streams the attachment onto the volume within the cap (whatsapp-rust decrypts as it
/// reads, ~40 KB of memory whatever the size).
async fn download(
    client: &Client,
    sink: &MediaSink,
    meta: MediaMeta,
    downloadable: &dyn Downloadable,
) -> InboundAttachment {
    let content = if from_whatsapp_cdn(downloadable) {
        download_to_volume(&sink.incoming, sink.cap, meta.size, |writer| {
            client.download_to_writer(downloadable, writer)
        })
        .await
    } else {
        AttachmentContent::Missing("its download location is not WhatsApp's media servers".into())
    };
    if let AttachmentContent::Missing(why) = &content {
        tracing::warn!(declared = meta.size, %why, "inbound media not kept");
    }
    InboundAttachment {
        mime_type: meta.mime_type,
        file_name: meta.file_name,
        caption: meta.caption,
        content,
    }
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::download::{DownloadParams, MediaType};

    use super::from_whatsapp_cdn;

    #[test]
    fn only_paths_on_the_media_hosts_are_downloaded() {
        let params = |path: &str| {
            DownloadParams::encrypted(path, &[1; 32], &[2; 32], &[3; 32], 10, MediaType::Image)
        };
        assert!(from_whatsapp_cdn(&params(
            "/v/t62.7118-24/1_2_3.enc?ccb=11-4&oh=x&oe=y"
        )));
        for hostile in [
            "@10.0.0.1:8443/x",
            "//169.254.169.254/latest",
            "/x@127.0.0.1/",
            "\\\\evil/x",
            "relative/path",
            "/a b",
            "",
        ] {
            assert!(!from_whatsapp_cdn(&params(hostile)), "{hostile:?}");
        }
    }
}
