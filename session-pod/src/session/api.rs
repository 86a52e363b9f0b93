//! What the HTTP layer asks of a session, answered in the runtime's words (`SessionError`).

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use wagate_api::{
    ChatState, CheckNumbersResponse, EDIT_WINDOW_SECS, GroupsResponse, MediaSource, MediaType,
    MessageBody, MessageKind, MessageRef, MessageStatus, PairCodeResponse, SendResult, SessionInfo,
    SessionState, ValidatedSend, WebhookConfig, normalize_phone,
};

use super::{Session, SessionError};
use crate::engine::EngineError;
use crate::store::{
    DeadLetter, Enqueued, IndexedMessage, MetaKey, NewMessage, StoredMedia, now_ms,
};
use crate::webhook::WebhookTarget;

/// A WhatsApp-style message id (`3EB0` + 18 hex digits), chosen before sending so that a
/// resend after a crash carries the same id and WhatsApp drops the duplicate.
pub fn new_message_id() -> String {
    let bytes: [u8; 9] = rand::rng().random();
    format!("3EB0{}", hex::encode_upper(bytes))
}

/// How a send was answered.
pub struct SendOutcome {
    pub result: SendResult,
    /// `false` when an idempotency key matched an earlier send.
    pub created: bool,
}

impl Session {
    pub(super) fn engine_error(&self, e: EngineError) -> SessionError {
        SessionError::from_engine(e, &self.id, self.snapshot().status)
    }

    fn not_connected(&self, state: SessionState) -> SessionError {
        SessionError::NotConnected {
            session: self.id.clone(),
            state,
        }
    }

    pub(super) fn require_connected(&self) -> Result<(), SessionError> {
        let status = self.snapshot().status;
        if status.is_ready() {
            Ok(())
        } else {
            Err(self.not_connected(status))
        }
    }

    pub async fn info(&self) -> SessionInfo {
        let snap = self.snapshot();
        SessionInfo {
            session_id: self.id.clone(),
            status: snap.status,
            ready: snap.status.is_ready(),
            qr_available: snap.live_qr(Utc::now()).is_some(),
            phone: snap.phone,
            push_name: snap.push_name,
            last_connected: snap.last_connected,
            last_error: snap.last_error,
            created_at: self.created_at,
            webhook: self.webhook_target().await.map(|t| t.settings()),
            labels: self.labels.read().await.clone(),
            banned_until: snap.banned_until,
            settings: self.settings(),
            outbox_depth: Some(
                self.metrics
                    .outbox_depth
                    .with_label_values(&[&self.id])
                    .get()
                    .max(0) as u64,
            ),
        }
    }

    /// How the session behaves now.
    pub fn settings(&self) -> wagate_api::SessionSettings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stores and applies `settings` (already validated); refused when they are fixed from
    /// outside (the resource is the truth in cluster mode).
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn set_settings(
        &self,
        settings: wagate_api::SessionSettings,
    ) -> Result<SessionInfo, SessionError> {
        if self.config.fixed_settings.is_some() {
            return Err(SessionError::WrongState(
                "this session's settings come from its WhatsAppSession resource: change spec.settings".into(),
            ));
        }
        self.store
            .meta_set(MetaKey::Settings, Some(&settings))
            .await?;
        let presence_changed = settings.always_online != self.settings().always_online;
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        if presence_changed && self.snapshot().status == SessionState::Connected {
            self.show_presence().await;
        }
        Ok(self.info().await)
    }

    /// `alwaysOnline`: tells WhatsApp the number is available, or (off) unavailable, which
    /// the library's own "available" at connect would otherwise leave it.
    pub(crate) async fn show_presence(&self) {
        let online = self.settings().always_online;
        if let Err(e) = self.engine.set_presence(online).await {
            tracing::warn!(error = %e, online, "cannot set the number's presence");
        }
    }

    /// Accepts a send into the outbox. With `wait`, returns once WhatsApp accepted or
    /// refused it (or `send_wait` elapsed, leaving it `queued`).
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn send(&self, send: ValidatedSend, wait: bool) -> Result<SendOutcome, SessionError> {
        if let MessageBody::Media {
            source: MediaSource::Url { url },
            ..
        } = &send.content
        {
            self.config
                .egress
                .policy()
                .check_url(url)
                .map_err(|e| SessionError::Invalid {
                    field: "media.url",
                    why: e.to_string(),
                })?;
        }
        let mut body = send.content;
        if let MessageBody::Poll { secret, .. } = &mut body {
            // Stored with the message, so a resend after a crash keys votes the same way.
            *secret = hex::encode(rand::rng().random::<[u8; 32]>());
        }
        let poll = super::polls::poll_of(&body);
        let new = NewMessage {
            id: new_message_id(),
            to: send.to.jid(),
            body,
            reply_to: send.reply_to,
            idempotency_key: send.idempotency_key,
            created_at: now_ms(),
            new_chats_per_day: Some(self.config.new_chats_per_day),
        };
        if let Some(poll) = poll {
            // Kept before it can be sent: once sent, the chat knows the poll's id, and a
            // stanza reusing it must not get there first with its own secret. (A send that
            // is then refused leaves a row that expires with the index.)
            self.keep_poll(new.to.clone(), new.id.clone(), poll, new.created_at)
                .await?;
        }
        self.queue(new, wait).await
    }

    /// Reacts to message `target` (an `emoji` of `""` removes the reaction).
    #[tracing::instrument(skip_all, fields(session = %self.id, target))]
    pub async fn react(
        &self,
        target: &str,
        emoji: String,
        wait: bool,
    ) -> Result<SendOutcome, SessionError> {
        let indexed = self.indexed(target).await?;
        let is_group = indexed.chat.ends_with("@g.us");
        let body = MessageBody::Reaction {
            target: MessageRef {
                id: indexed.id,
                from_me: indexed.from_me,
                participant: (is_group && !indexed.from_me).then(|| sender_jid(&indexed.sender)),
            },
            emoji,
        };
        self.queue(self.action(indexed.chat, body), wait).await
    }

    /// Replaces the text of `target`, an own text message sent in the last 15 minutes (or
    /// the caption of an own photo, video or document).
    #[tracing::instrument(skip_all, fields(session = %self.id, target))]
    pub async fn edit(
        &self,
        target: &str,
        text: String,
        wait: bool,
    ) -> Result<SendOutcome, SessionError> {
        let indexed = self.own(target).await?;
        let age_secs = (now_ms() - indexed.at) / 1000;
        if age_secs > EDIT_WINDOW_SECS {
            return Err(SessionError::WrongState(format!(
                "Message '{target}' was sent {} minutes ago; WhatsApp allows edits for {} minutes",
                age_secs / 60,
                EDIT_WINDOW_SECS / 60
            )));
        }
        let caption_of = match indexed.kind {
            MessageKind::Text => None,
            MessageKind::Image => Some(MediaType::Image),
            MessageKind::Video => Some(MediaType::Video),
            MessageKind::Document => Some(MediaType::Document),
            _ => {
                return Err(SessionError::WrongState(format!(
                    "Message '{target}' has no text or caption; only those can be edited"
                )));
            }
        };
        let body = MessageBody::Edit {
            target: indexed.id,
            text,
            caption_of,
        };
        self.queue(self.action(indexed.chat, body), wait).await
    }

    /// Deletes `target` (anyone's) only for this account: its devices drop it (an app-state
    /// mutation every device of the account applies), and the index forgets it.
    #[tracing::instrument(skip_all, fields(session = %self.id, target))]
    pub async fn delete_for_me(&self, target: &str) -> Result<(), SessionError> {
        self.require_connected()?;
        let indexed = self.indexed(target).await?;
        let is_group = indexed.chat.ends_with("@g.us");
        let message = MessageRef {
            participant: (is_group && !indexed.from_me).then(|| sender_jid(&indexed.sender)),
            id: indexed.id.clone(),
            from_me: indexed.from_me,
        };
        self.engine
            .delete_for_me(&indexed.chat, &message, indexed.at)
            .await
            .map_err(|e| self.engine_error(e))?;
        self.store.index_forget(indexed.chat, indexed.id).await?;
        Ok(())
    }

    /// Deletes `target`, an own message, for everyone in the chat.
    #[tracing::instrument(skip_all, fields(session = %self.id, target))]
    pub async fn revoke(&self, target: &str, wait: bool) -> Result<SendOutcome, SessionError> {
        let indexed = self.own(target).await?;
        let body = MessageBody::Revoke { target: indexed.id };
        self.queue(self.action(indexed.chat, body), wait).await
    }

    /// Sends read receipts for received messages of `chat` (all unread ones when `ids` is
    /// `None`); answers how many were marked.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn mark_read(
        &self,
        chat: String,
        ids: Option<Vec<String>>,
    ) -> Result<usize, SessionError> {
        self.require_connected()?;
        let messages = match ids {
            None => self.store.unread_in(chat.clone()).await?,
            Some(ids) => {
                let found = self.store.received_in(chat.clone(), ids.clone()).await?;
                if let Some(missing) = ids.iter().find(|id| !found.iter().any(|m| &m.id == *id)) {
                    return Err(SessionError::MessageNotFound {
                        session: self.id.clone(),
                        message: missing.clone(),
                    });
                }
                found
            }
        };
        // In a group each sender's messages are acknowledged to that sender.
        let mut by_sender: std::collections::BTreeMap<Option<String>, Vec<String>> =
            std::collections::BTreeMap::new();
        let is_group = chat.ends_with("@g.us");
        for message in &messages {
            let sender = is_group.then(|| sender_jid(&message.sender));
            by_sender
                .entry(sender)
                .or_default()
                .push(message.id.clone());
        }
        for (sender, ids) in &by_sender {
            self.engine
                .mark_read(&chat, sender.as_deref(), ids)
                .await
                .map_err(|e| self.engine_error(e))?;
        }
        let ids: Vec<String> = messages.into_iter().map(|m| m.id).collect();
        let read = ids.len();
        self.store.mark_index_read(chat, ids).await?;
        Ok(read)
    }

    /// Shows typing, recording or paused in `chat`.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn chat_presence(&self, chat: &str, state: ChatState) -> Result<(), SessionError> {
        self.require_connected()?;
        self.engine
            .chat_state(chat, state)
            .await
            .map_err(|e| self.engine_error(e))
    }

    /// Shows the account online or offline.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn set_presence(&self, available: bool) -> Result<(), SessionError> {
        self.require_connected()?;
        self.engine
            .set_presence(available)
            .await
            .map_err(|e| self.engine_error(e))
    }

    /// The indexed message `id`, or `404 message_not_found`. Senders choose ids: this
    /// session's own message wins; an id that several other chats' messages carry is
    /// `409` (acting on the wrong chat's message is worse than refusing).
    async fn indexed(&self, id: &str) -> Result<IndexedMessage, SessionError> {
        let found = self.store.indexed(id.to_string()).await?.ok_or_else(|| {
            SessionError::MessageNotFound {
                session: self.id.clone(),
                message: id.to_string(),
            }
        })?;
        if !found.from_me && self.store.received_chats_with(id.to_string()).await? > 1 {
            return Err(SessionError::WrongState(format!(
                "Message id '{id}' names messages in several chats; it cannot be acted on by id"
            )));
        }
        Ok(found)
    }

    /// The indexed message `id` when this session sent it (`409` for someone else's).
    async fn own(&self, id: &str) -> Result<IndexedMessage, SessionError> {
        let indexed = self.indexed(id).await?;
        if !indexed.from_me {
            return Err(SessionError::WrongState(format!(
                "Message '{id}' was sent by someone else; only own messages can be changed"
            )));
        }
        Ok(indexed)
    }

    /// An action message to `chat`.
    fn action(&self, chat: String, body: MessageBody) -> NewMessage {
        NewMessage {
            id: new_message_id(),
            to: chat,
            body,
            reply_to: None,
            idempotency_key: None,
            created_at: now_ms(),
            // An action goes to a chat that exists: it starts no conversation.
            new_chats_per_day: None,
        }
    }

    /// Queues `new` in the outbox; with `wait`, answers once WhatsApp accepted or refused
    /// it (or `send_wait` elapsed, leaving it `queued`).
    async fn queue(&self, new: NewMessage, wait: bool) -> Result<SendOutcome, SessionError> {
        let snap = self.snapshot();
        let can_accept = if wait {
            snap.status.is_ready()
        } else {
            snap.accepts_queued_sends()
        };
        if !can_accept {
            return Err(self.not_connected(snap.status));
        }
        let (enqueued, done) = self.outbox.enqueue(new, wait).await?;
        let message = match enqueued {
            Enqueued::Duplicate(existing) => {
                return Ok(SendOutcome {
                    result: existing.to_result(),
                    created: false,
                });
            }
            Enqueued::NewChatCapReached => {
                return Err(SessionError::NewChatCapReached {
                    session: self.id.clone(),
                    cap: self.config.new_chats_per_day,
                });
            }
            Enqueued::New(message) => message,
        };
        // An async send answers with what was accepted; the worker may already be past it.
        let Some(done) = done else {
            return Ok(SendOutcome {
                result: message.to_result(),
                created: true,
            });
        };
        let _ = tokio::time::timeout(self.config.send_wait, done).await;
        let current = self
            .store
            .message(message.id.clone())
            .await?
            .unwrap_or(message);
        Ok(SendOutcome {
            result: current.to_result(),
            created: true,
        })
    }

    /// A message by id: one this session sent (from the outbox), else one it received
    /// (from the message index); a poll comes with its tally.
    pub async fn message(&self, id: &str) -> Result<SendResult, SessionError> {
        let mut result = match self.store.message(id.to_string()).await? {
            Some(sent) => sent.to_result(),
            None => {
                let received = self.indexed(id).await?;
                SendResult {
                    id: received.id,
                    to: received.chat,
                    status: if received.read {
                        MessageStatus::Read
                    } else {
                        MessageStatus::Delivered
                    },
                    error: None,
                    created_at: crate::store::from_ms(received.at),
                    sent_at: None,
                    delivered_at: None,
                    read_at: None,
                    from_me: received.from_me,
                    from: (!received.from_me).then_some(received.sender),
                    kind: Some(received.kind),
                    votes: None,
                }
            }
        };
        if result.kind == Some(MessageKind::Poll) {
            let chat = result.to.clone();
            result.votes = self.poll_tally(&chat, &result.id).await;
        }
        Ok(result)
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn check_numbers(
        &self,
        numbers: Vec<String>,
    ) -> Result<CheckNumbersResponse, SessionError> {
        self.require_connected()?;
        let results = self
            .engine
            .check_numbers(&numbers)
            .await
            .map_err(|e| self.engine_error(e))?;
        Ok(CheckNumbersResponse { results })
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn groups(&self) -> Result<GroupsResponse, SessionError> {
        self.require_connected()?;
        let groups = self
            .engine
            .groups()
            .await
            .map_err(|e| self.engine_error(e))?;
        Ok(GroupsResponse { groups })
    }

    /// Unlinks the device; the session goes back to `qr`.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn logout(&self) -> Result<(), SessionError> {
        match self.snapshot().status {
            SessionState::Stopped => {
                return Err(SessionError::WrongState("Session is stopped".into()));
            }
            SessionState::Qr | SessionState::LoggedOut if self.snapshot().phone.is_none() => {
                return Err(SessionError::WrongState(format!(
                    "Session '{}' is not linked",
                    self.id
                )));
            }
            _ => {}
        }
        self.engine.logout().await.map_err(|e| self.engine_error(e))
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn restart(&self) -> Result<SessionInfo, SessionError> {
        self.transition(|s| {
            s.status = SessionState::Connecting;
            s.qr = None;
        })
        .await;
        self.engine
            .restart()
            .await
            .map_err(|e| self.engine_error(e))?;
        Ok(self.info().await)
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn pair_code(&self, phone: &str) -> Result<PairCodeResponse, SessionError> {
        let digits = normalize_phone(phone).ok_or_else(|| SessionError::Invalid {
            field: "phone",
            why: "must be a phone number with country code (10-15 digits)".into(),
        })?;
        if self.snapshot().status == SessionState::Connected {
            return Err(SessionError::WrongState(format!(
                "Session '{}' is already connected",
                self.id
            )));
        }
        let code = self
            .engine
            .pair_code(&digits)
            .await
            .map_err(|e| self.engine_error(e))?;
        let expires_at = Utc::now()
            + chrono::Duration::from_std(code.ttl).unwrap_or(chrono::Duration::minutes(3));
        Ok(PairCodeResponse {
            code: code.code,
            expires_at,
        })
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn set_webhook(
        &self,
        config: Option<WebhookConfig>,
    ) -> Result<SessionInfo, SessionError> {
        let target = match config {
            Some(config) => {
                // An update without a secret keeps the one already set.
                let previous_secret = self.webhooks.own_secret().await;
                Some(WebhookTarget {
                    url: config.url.clone(),
                    events: config.events.clone(),
                    secret: config.secret.clone().or(previous_secret),
                })
            }
            None => None,
        };
        self.webhooks.set_own(target).await?;
        Ok(self.info().await)
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn set_labels(
        &self,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<(), SessionError> {
        self.store.meta_set(MetaKey::Labels, Some(&labels)).await?;
        *self.labels.write().await = labels;
        Ok(())
    }

    /// Recent messages in both directions from the message index, newest first.
    pub async fn recent_messages(
        &self,
        chat: Option<String>,
        before: Option<wagate_api::PageCursor>,
        limit: u32,
    ) -> Result<wagate_api::MessagePage, SessionError> {
        let before = before.map_or((i64::MAX, String::new()), |c| (c.at, c.id));
        let rows = self.store.recent_messages(chat, before, limit).await?;
        let next_before = (rows.len() == limit as usize)
            .then(|| rows.last())
            .flatten()
            .map(|(m, _)| wagate_api::PageCursor::encode(m.at, &m.id));
        let messages: Vec<_> = rows
            .into_iter()
            .map(|(m, status)| wagate_api::MessageSummary {
                at: crate::store::from_ms(m.at),
                status: status.and_then(|s| wagate_api::MessageStatus::parse(&s)),
                id: m.id,
                chat: m.chat,
                from: m.sender,
                from_me: m.from_me,
                kind: m.kind,
                preview: m.preview,
                read: m.read,
            })
            .collect();
        Ok(wagate_api::MessagePage {
            messages,
            next_before,
        })
    }

    /// Hourly counts of the last 24 hours and the queues now.
    pub async fn stats(&self) -> Result<wagate_api::SessionStats, SessionError> {
        const HOUR_MS: i64 = 3_600_000;
        let first_hour = now_ms() / HOUR_MS - 23;
        let messages = self
            .store
            .hourly_message_counts(first_hour * HOUR_MS)
            .await?;
        let failures = self
            .store
            .hourly_webhook_failures(first_hour * HOUR_MS)
            .await?;
        let hours = (first_hour..first_hour + 24)
            .map(|hour| {
                let (sent, received) = messages
                    .iter()
                    .find(|(h, _, _)| *h == hour)
                    .map_or((0, 0), |(_, s, r)| (*s, *r));
                let webhook_failures = failures
                    .iter()
                    .find(|(h, _)| *h == hour)
                    .map_or(0, |(_, f)| *f);
                wagate_api::HourStats {
                    hour: crate::store::from_ms(hour * HOUR_MS),
                    sent,
                    received,
                    webhook_failures,
                }
            })
            .collect();
        Ok(wagate_api::SessionStats {
            hours,
            outbox_depth: self.store.queued_count().await?.max(0) as u64,
            webhook_pending: self.store.webhook_pending_count().await?.max(0) as u64,
            webhook_dead: self.store.webhook_dead_count().await?.max(0) as u64,
        })
    }

    /// Webhook deliveries still waiting, oldest first.
    pub async fn pending_deliveries(
        &self,
    ) -> Result<Vec<crate::store::PendingDelivery>, SessionError> {
        Ok(self.store.pending_deliveries(200).await?)
    }

    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, SessionError> {
        Ok(self.webhooks.dead_letters().await?)
    }

    pub async fn replay_dead_letters(&self) -> Result<usize, SessionError> {
        Ok(self.webhooks.replay().await?)
    }

    /// Index entry and file path of an inbound media message.
    pub async fn media(
        &self,
        message_id: &str,
    ) -> Result<(StoredMedia, std::path::PathBuf), SessionError> {
        let not_found = || SessionError::MediaNotFound(message_id.to_string());
        let media = self
            .store
            .media_get(message_id.to_string())
            .await?
            .ok_or_else(not_found)?;
        let path = self.media.path_of(&media.message_id);
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(not_found());
        }
        Ok((media, path))
    }

    /// Stops the session for good. With `purge`, unlinks the device and deletes the whole
    /// session folder (auth, queue, media); without, the folder stays and a later create
    /// resumes the link without a QR.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn delete(&self, purge: bool) -> Result<(), SessionError> {
        if purge && self.snapshot().phone.is_some() {
            // Best effort and bounded: an unreachable WhatsApp must not block deletion.
            if tokio::time::timeout(Duration::from_secs(10), self.engine.logout())
                .await
                .is_err()
            {
                tracing::warn!("logout timed out during purge; wiping local auth anyway");
            }
        }
        self.shutdown().await;
        self.transition(|s| {
            s.status = SessionState::Stopped;
            s.qr = None;
        })
        .await;
        self.metrics.forget_session(&self.id);
        if purge {
            self.engine
                .purge()
                .await
                .map_err(|e| self.engine_error(e))?;
            if let Err(e) = tokio::fs::remove_dir_all(&self.dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(error = %e, "cannot remove session folder");
                return Err(SessionError::FolderNotRemoved);
            }
        }
        Ok(())
    }

    /// Current delivery state for a message, as a convenience for the sandbox.
    pub async fn message_status(&self, id: &str) -> Option<MessageStatus> {
        self.store
            .message(id.to_string())
            .await
            .ok()
            .flatten()
            .map(|m| m.status)
    }
}

/// The JID of a sender as the index keeps it (phone digits for phone-number senders).
fn sender_jid(sender: &str) -> String {
    if sender.contains('@') {
        sender.to_string()
    } else {
        format!("{sender}@s.whatsapp.net")
    }
}
