//! Turns what the engine reports into state changes, stored records and published events.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wagate_api::{
    ChatPresenceData, EditedData, EventKind, InboundMedia, InboundMessageData, MessageStatus,
    ReactionData, RevokedData, SessionState,
};

use crate::inbound_media::AttachmentContent;

use super::Session;
use crate::engine::{EngineEvent, InboundAction, InboundMessage};
use crate::state::{PairCodeState, QrState, Snapshot};
use crate::store::{IndexedMessage, MetaKey, StoredMedia, now_ms, preview_of};

pub(super) async fn run(
    session: Arc<Session>,
    mut events: mpsc::UnboundedReceiver<EngineEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            // Drain what the engine already reported before stopping.
            biased;
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
            _ = shutdown.cancelled() => return,
        };
        session.apply(event).await;
    }
}

fn chrono_ttl(ttl: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60))
}

/// Longest push name kept (WhatsApp's are 25 characters; a stranger's stanza may say more).
const PUSH_NAME_MAX_CHARS: usize = 64;

impl Session {
    async fn apply(&self, event: EngineEvent) {
        match event {
            EngineEvent::Connecting { last_error } => {
                self.transition(|s| {
                    s.status = SessionState::Connecting;
                    s.qr = None;
                    if last_error.is_some() {
                        s.last_error = last_error;
                    }
                })
                .await
            }
            EngineEvent::Qr { code, ttl } => {
                let qr = QrState {
                    code,
                    expires_at: Utc::now() + chrono_ttl(ttl),
                };
                self.transition(|s| {
                    s.status = SessionState::Qr;
                    s.qr = Some(qr.clone());
                })
                .await;
                self.publish(
                    EventKind::Qr,
                    json!({ "qr": qr.code, "expiresAt": qr.expires_at }),
                )
                .await;
            }
            EngineEvent::PairCode { code, ttl } => {
                self.state.note(|s| {
                    s.pair_code = Some(PairCodeState {
                        code,
                        expires_at: Utc::now() + chrono_ttl(ttl),
                    })
                });
            }
            EngineEvent::Connected { phone, push_name } => {
                let now = Utc::now();
                self.transition(|s| {
                    s.status = SessionState::Connected;
                    s.qr = None;
                    s.pair_code = None;
                    s.last_error = None;
                    s.banned_until = None;
                    s.last_connected = Some(now);
                    s.phone = phone.clone().or(s.phone.take());
                    s.push_name = push_name.clone().or(s.push_name.take());
                })
                .await;
                let snap = self.snapshot();
                self.persist_identity(&snap).await;
                self.outbox.wake();
                self.show_presence().await;
            }
            EngineEvent::LoggedOut { reason } => {
                self.transition(|s| {
                    s.status = SessionState::LoggedOut;
                    s.qr = None;
                    s.phone = None;
                    s.push_name = None;
                    s.last_error = Some(reason);
                })
                .await;
                self.persist_identity(&self.snapshot()).await;
            }
            EngineEvent::Banned { until, reason } => {
                self.transition(|s| {
                    s.status = SessionState::Banned;
                    s.qr = None;
                    s.banned_until = Some(until);
                    s.last_error = Some(reason);
                })
                .await
            }
            EngineEvent::Failed { reason } => {
                self.transition(|s| {
                    s.status = SessionState::Failed;
                    s.qr = None;
                    s.last_error = Some(reason);
                })
                .await
            }
            EngineEvent::Message(message, committed) => {
                committed.report(self.receive(*message).await)
            }
            EngineEvent::Receipt {
                message_ids,
                status,
            } => {
                for id in message_ids {
                    self.apply_receipt(id, status).await;
                }
            }
            EngineEvent::ChatPresence {
                chat,
                from,
                from_lid,
                state,
            } => {
                if self.ignores_chat(&chat) || !self.typing_changed(&chat, &from, state) {
                    return;
                }
                let data = ChatPresenceData {
                    chat,
                    from,
                    from_lid,
                    state,
                };
                self.publish(
                    EventKind::ChatPresence,
                    serde_json::to_value(data).expect("serializable"),
                )
                .await;
            }
            EngineEvent::Call(call) => self.on_call(call).await,
            EngineEvent::GroupParticipants(data) => {
                self.publish(
                    EventKind::GroupParticipants,
                    serde_json::to_value(data).expect("serializable"),
                )
                .await;
            }
            EngineEvent::GroupUpdated(data) => {
                self.publish(
                    EventKind::GroupUpdated,
                    serde_json::to_value(data).expect("serializable"),
                )
                .await;
            }
        }
    }

    /// Notes `from`'s typing state in `chat`; `false` when it is the one already shown.
    fn typing_changed(&self, chat: &str, from: &str, state: wagate_api::ChatState) -> bool {
        let mut typing = self.typing.lock().unwrap_or_else(|p| p.into_inner());
        note_typing(&mut typing, chat, from, state)
    }

    /// Applies `change` through the state machine (which publishes a state change).
    pub(super) async fn transition(&self, change: impl FnOnce(&mut Snapshot)) {
        self.state.transition(change).await;
    }

    pub(super) async fn publish(&self, kind: EventKind, data: serde_json::Value) -> bool {
        self.events.publish(kind, data).await
    }

    async fn persist_identity(&self, snap: &Snapshot) {
        let writes = [
            self.store
                .meta_set(MetaKey::Phone, snap.phone.as_ref())
                .await,
            self.store
                .meta_set(MetaKey::PushName, snap.push_name.as_ref())
                .await,
            self.store
                .meta_set(MetaKey::LastConnected, snap.last_connected.as_ref())
                .await,
        ];
        for result in writes {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot persist session identity");
            }
        }
    }

    /// Publishes an inbound message; `false` when it was not stored whole (its media or its
    /// webhook delivery could not be written), so the engine has WhatsApp deliver it again.
    async fn receive(&self, message: InboundMessage) -> bool {
        if self.ignores_chat(&message.chat) {
            // The engine already downloaded its attachment: nothing keeps it.
            if let Some(attachment) = &message.media {
                discard(&attachment.content).await;
            }
            return true;
        }
        if let Some(action) = message.action {
            return self
                .acted_on(action, message.from, message.from_lid, message.chat)
                .await;
        }
        if !message.from_me {
            self.metrics
                .messages_received
                .with_label_values(&[&self.id])
                .inc();
        }
        if !message.is_group
            && !message.from_me
            && let Err(e) = self
                .store
                .note_inbound_chat(message.chat.clone(), now_ms())
                .await
        {
            tracing::warn!(error = %e, "cannot record inbound chat");
        }
        let indexed = IndexedMessage {
            id: message.id.clone(),
            chat: message.chat.clone(),
            // Own messages are indexed without an author, however they were sent.
            sender: if message.from_me {
                String::new()
            } else {
                message.from.clone()
            },
            from_me: message.from_me,
            kind: message.kind,
            at: message.timestamp.timestamp_millis(),
            read: false,
            preview: preview_of(message.text.as_deref()),
        };
        if let Err(e) = self.store.index_message(indexed).await {
            tracing::warn!(error = %e, "cannot index an inbound message");
        }
        if !message.from_me
            && let Some(name) = &message.push_name
            && let Err(e) = self
                .store
                .note_push_name(
                    message.from.clone(),
                    name.chars().take(PUSH_NAME_MAX_CHARS).collect(),
                    message.timestamp.timestamp_millis(),
                )
                .await
        {
            tracing::warn!(error = %e, "cannot note a push name");
        }
        if let Some(poll) = &message.poll
            && let Err(e) = self
                .keep_poll(
                    message.chat.clone(),
                    message.id.clone(),
                    poll.clone(),
                    message.timestamp.timestamp_millis(),
                )
                .await
        {
            tracing::warn!(error = %e, "cannot keep a received poll");
        }
        let media_id = crate::media::media_id(&message.id, &message.chat, &message.from);
        let (media, media_kept) = match message.media {
            Some(attachment) => match self.keep_media(&media_id, attachment).await {
                Some(media) => (Some(media), true),
                None => (None, false),
            },
            None => (None, true),
        };
        let data = InboundMessageData {
            message_id: message.id,
            from: message.from,
            from_lid: message.from_lid,
            from_me: message.from_me,
            chat: message.chat,
            is_group: message.is_group,
            push_name: message.push_name,
            timestamp: message.timestamp.timestamp(),
            kind: message.kind,
            text: message.text,
            media,
            location: message.location,
            contacts: message.contacts,
            poll: message.poll.map(|p| p.spec),
            quoted: message.quoted,
            mentions: message.mentions,
        };
        let (chat, id, from_me) = (data.chat.clone(), data.message_id.clone(), data.from_me);
        let queued = self
            .publish(
                EventKind::MessageReceived,
                serde_json::to_value(data).expect("serializable"),
            )
            .await;
        if queued && !from_me {
            self.read_unless_delivered(&chat, &id).await;
        }
        queued && media_kept
    }

    /// Publishes what someone did to an earlier message: `message.reaction`,
    /// `message.edited` or `message.revoked`.
    async fn acted_on(
        &self,
        action: InboundAction,
        from: String,
        from_lid: Option<String>,
        chat: String,
    ) -> bool {
        let (kind, data) = match action {
            InboundAction::PollVote { target, vote } => {
                return self.voted(target, vote, (from, from_lid), chat).await;
            }
            InboundAction::Reaction { target, emoji } => (
                EventKind::MessageReaction,
                serde_json::to_value(ReactionData {
                    message_id: target,
                    from,
                    from_lid,
                    chat,
                    removed: emoji.is_empty(),
                    emoji,
                }),
            ),
            InboundAction::Edited { target, text } => (
                EventKind::MessageEdited,
                serde_json::to_value(EditedData {
                    message_id: target,
                    from,
                    from_lid,
                    chat,
                    text,
                }),
            ),
            InboundAction::Revoked { target } => (
                EventKind::MessageRevoked,
                serde_json::to_value(RevokedData {
                    message_id: target,
                    from,
                    from_lid,
                    chat,
                }),
            ),
        };
        self.publish(kind, data.expect("event data serializes"))
            .await
    }

    /// Puts an attachment under the media quota (evicting the oldest media first) and
    /// indexes it. What will not fit or was refused is announced with `media.error`;
    /// `None` only for a failure worth WhatsApp's redelivery (the index could not be
    /// written), so a refused attachment never loops.
    async fn keep_media(
        &self,
        media_id: &str,
        attachment: crate::engine::InboundAttachment,
    ) -> Option<InboundMedia> {
        let announce = |size: u64, url: Option<String>, error: Option<String>| InboundMedia {
            mime_type: attachment.mime_type.clone(),
            file_name: attachment.file_name.clone(),
            caption: attachment.caption.clone(),
            size,
            url,
            error,
        };
        let content = match self.fit_in_quota(attachment.content.clone()).await {
            Ok(content) => content,
            Err(()) => {
                discard(&attachment.content).await;
                return None;
            }
        };
        let size = match self.media.put(media_id, &content).await {
            Ok(Some(size)) => size,
            Ok(None) => {
                let AttachmentContent::Missing(why) = content else {
                    unreachable!("put keeps every content but Missing")
                };
                return Some(announce(0, None, Some(why)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                discard(&content).await;
                tracing::error!("volume full; inbound media dropped");
                return Some(announce(
                    0,
                    None,
                    Some("the session's volume is full".into()),
                ));
            }
            Err(e) => {
                discard(&content).await;
                tracing::error!(error = %e, "cannot store inbound media");
                return None;
            }
        };
        let stored = StoredMedia {
            message_id: media_id.to_string(),
            mime_type: attachment.mime_type.clone(),
            file_name: attachment.file_name.clone(),
            size,
        };
        if let Err(e) = self.store.media_put(stored, now_ms()).await {
            tracing::error!(error = %e, "cannot index inbound media");
            // Unindexed, it would sit outside the quota and the pruning for good.
            self.media.remove(media_id).await;
            return None;
        }
        let url = format!(
            "{}/v1/sessions/{}/media/{}",
            self.config.public_url,
            self.id,
            crate::media::url_segment(media_id)
        );
        Some(announce(size, Some(url), None))
    }

    /// Makes room for `content` under the quota by evicting the oldest media; content
    /// larger than the whole quota becomes `Missing`. `Err` when the index failed.
    async fn fit_in_quota(&self, content: AttachmentContent) -> Result<AttachmentContent, ()> {
        let size = match &content {
            AttachmentContent::File { size, .. } => *size,
            AttachmentContent::Bytes(bytes) => bytes.len() as u64,
            AttachmentContent::Missing(_) => return Ok(content),
        };
        let quota = self.media_quota;
        if size > quota {
            discard(&content).await;
            return Ok(AttachmentContent::Missing(
                "larger than the session's media quota".into(),
            ));
        }
        let total = self.store.media_total().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the media quota");
        })?;
        if total + size > quota {
            let evicted = self
                .store
                .media_evict_oldest(total + size - quota)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot evict old media");
                })?;
            for id in &evicted {
                self.media.remove(id).await;
            }
            tracing::info!(
                evicted = evicted.len(),
                "media quota reached; oldest media removed"
            );
        }
        Ok(content)
    }

    async fn apply_receipt(&self, id: String, status: MessageStatus) {
        match self.store.apply_receipt(id, status, now_ms()).await {
            Ok(Some(updated)) => {
                let result = updated.to_result();
                self.publish(
                    EventKind::MessageStatus,
                    serde_json::to_value(result).expect("serializable"),
                )
                .await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot apply receipt"),
        }
    }
}

/// The last typing state per (chat, contact), bounded: past 10,000 pairs it starts over.
type TypingStates = std::collections::HashMap<(String, String), wagate_api::ChatState>;

/// Records `state` for (`chat`, `from`); `true` when it differs from the last one.
fn note_typing(
    typing: &mut TypingStates,
    chat: &str,
    from: &str,
    state: wagate_api::ChatState,
) -> bool {
    const TRACKED_MAX: usize = 10_000;
    if typing.len() >= TRACKED_MAX {
        typing.clear();
    }
    typing.insert((chat.to_string(), from.to_string()), state) != Some(state)
}

/// Deletes a downloaded file that will not be kept.
async fn discard(content: &AttachmentContent) {
    if let AttachmentContent::File { path, .. } = content {
        let _ = tokio::fs::remove_file(path).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wagate_api::ChatState;

    #[test]
    fn typing_is_news_only_when_it_changes_and_the_memory_is_bounded() {
        let mut typing = TypingStates::new();
        assert!(note_typing(&mut typing, "c", "a", ChatState::Composing));
        assert!(!note_typing(&mut typing, "c", "a", ChatState::Composing));
        assert!(note_typing(&mut typing, "c", "b", ChatState::Composing));
        assert!(note_typing(&mut typing, "c", "a", ChatState::Paused));
        for i in 0..20_000 {
            note_typing(&mut typing, "c", &i.to_string(), ChatState::Composing);
        }
        assert!(typing.len() <= 10_000);
    }
}
