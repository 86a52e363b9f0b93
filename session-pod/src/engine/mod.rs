//! The seam between a session and WhatsApp. A session drives an [`Engine`] and consumes
//! the [`EngineEvent`]s it reports; the real engine speaks the WhatsApp protocol, the
//! simulator plays a phone and WhatsApp's servers in-process for tests and sandboxes.

pub mod contacts;
pub mod groups;
pub mod pacer;
pub mod profile;
pub mod simulator;
pub mod whatsapp;

pub use contacts::ContactDirectory;
pub use groups::GroupAdmin;
pub use profile::OwnProfile;

use crate::inbound_media::AttachmentContent;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use wagate_api::{
    ChatState, GroupInfo, GroupParticipantsData, GroupUpdatedData, LocationSpec, MessageBody,
    MessageKind, MessageRef, MessageStatus, NumberCheck, PollSpec, QuotedMessage, SharedContact,
};

/// Where engines report what happens; the session runtime is the only reader.
pub type EventSink = mpsc::UnboundedSender<EngineEvent>;

/// What an engine reports about the account and its traffic.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// Dialing (or backing off before the next dial); `last_error` says why it is not connected.
    Connecting { last_error: Option<String> },
    /// A QR code to scan, valid for `ttl`.
    Qr { code: String, ttl: Duration },
    /// A pairing code to type on the phone, valid for `ttl`.
    PairCode { code: String, ttl: Duration },
    /// Linked and online.
    Connected {
        phone: Option<String>,
        push_name: Option<String>,
    },
    /// Unlinked (from the phone or by us): auth is gone and a new QR follows.
    LoggedOut { reason: String },
    /// WhatsApp refused the account until `until`.
    Banned {
        until: DateTime<Utc>,
        reason: String,
    },
    /// Unrecoverable without an operator (client outdated, storage broken, stream replaced).
    Failed { reason: String },
    /// A message someone sent to this account; `Committed` is told whether it was queued
    /// durably, so the engine acknowledges it to WhatsApp only then.
    Message(Box<InboundMessage>, Committed),
    /// Delivery progress of messages we sent.
    Receipt {
        message_ids: Vec<String>,
        status: MessageStatus,
    },
    /// A contact is typing, recording or stopped in `chat`.
    ChatPresence {
        chat: String,
        /// Phone digits, or the JID when no phone is known for it.
        from: String,
        /// Their LID (`digits@lid`) when WhatsApp used one.
        from_lid: Option<String>,
        state: ChatState,
    },
    /// Someone calls this number.
    Call(IncomingCall),
    /// Members of a group were added, removed, promoted or demoted.
    GroupParticipants(GroupParticipantsData),
    /// A group's subject, description or settings changed.
    GroupUpdated(GroupUpdatedData),
}

/// The session's answer to an inbound message: stored durably (`true`) or not (`false`).
/// An engine that does not wait for it passes [`Committed::not_awaited`].
#[derive(Clone, Default)]
pub struct Committed(Option<Arc<std::sync::Mutex<Option<oneshot::Sender<bool>>>>>);

impl Committed {
    pub fn channel() -> (Self, oneshot::Receiver<bool>) {
        let (tx, rx) = oneshot::channel();
        (Self(Some(Arc::new(std::sync::Mutex::new(Some(tx))))), rx)
    }

    pub fn not_awaited() -> Self {
        Self(None)
    }

    pub fn report(&self, durable: bool) {
        if let Some(slot) = &self.0
            && let Some(tx) = slot.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            let _ = tx.send(durable);
        }
    }
}

impl std::fmt::Debug for Committed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Committed(awaited)"
        } else {
            "Committed(not awaited)"
        })
    }
}

/// An inbound message, with its media already on the volume (or the reason it is not).
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub id: String,
    /// Sender phone digits, or the sender JID when no phone is known for it.
    pub from: String,
    /// The sender's LID (`digits@lid`) when WhatsApp used one.
    pub from_lid: Option<String>,
    /// Sent from the linked phone (or another device of the account) rather than to it:
    /// `from` is the account's own number and `chat` the conversation it went to.
    pub from_me: bool,
    pub chat: String,
    pub is_group: bool,
    pub push_name: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub media: Option<InboundAttachment>,
    pub location: Option<LocationSpec>,
    /// The cards of a contact message (one, or several of a contacts array).
    pub contacts: Vec<SharedContact>,
    /// A poll, with the secret its votes are encrypted with (when the sender shared it).
    pub poll: Option<InboundPoll>,
    /// Set when the message acts on another (a reaction, an edit, a revoke) rather than
    /// being one of its own.
    pub action: Option<InboundAction>,
    pub quoted: Option<QuotedMessage>,
    pub mentions: Vec<String>,
}

/// A call ringing this number.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingCall {
    pub call_id: String,
    /// Phone digits whenever known, else the JID.
    pub from: String,
    pub from_lid: Option<String>,
    pub video: bool,
    /// The group JID of a group call.
    pub group: Option<String>,
    /// Whom a reject goes to and who created the call (JIDs, as WhatsApp named them).
    pub peer: String,
    pub creator: String,
}

/// What an inbound message does to an earlier message of the chat.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundAction {
    /// `emoji` is empty when the reaction was removed.
    Reaction {
        target: String,
        emoji: String,
    },
    Edited {
        target: String,
        text: String,
    },
    Revoked {
        target: String,
    },
    /// A vote in poll `target`, still encrypted: the session holds the poll's secret.
    PollVote {
        target: String,
        vote: EncryptedVote,
    },
}

/// A poll someone sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPoll {
    pub spec: PollSpec,
    /// Its message secret; without one, votes on it cannot be read.
    pub secret: Option<Vec<u8>>,
}

/// A poll vote as it travels: AES-GCM under a key derived from the poll's secret, its id,
/// its creator and the voter (both as the voter's client addressed them).
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedVote {
    pub payload: Vec<u8>,
    pub iv: Vec<u8>,
    /// The poll creator's user JID (`digits@s.whatsapp.net` or a LID).
    pub creator: String,
    /// The voter's user JID.
    pub voter: String,
    /// When the voter's client cast it (Unix ms): later votes replace earlier ones.
    pub cast_at: i64,
}

#[derive(Debug, Clone)]
pub struct InboundAttachment {
    pub mime_type: String,
    pub file_name: Option<String>,
    pub caption: Option<String>,
    pub content: AttachmentContent,
}

/// One message for the engine to deliver, with the id the gateway chose before sending.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub id: String,
    /// Full JID (`...@s.whatsapp.net`, `...@g.us`).
    pub to: String,
    /// Media in it is inline: the outbox fetched any URL before handing it over.
    pub body: MessageBody,
    pub reply_to: Option<String>,
    /// What `reply_to` said and who wrote it, when the message index knows it.
    pub quote: Option<Quote>,
}

/// The message a reply quotes, as the recipient's app shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// Its author (phone digits, or a JID without one); `None` when this session wrote it.
    pub author: Option<String>,
    /// Its text or caption.
    pub text: Option<String>,
}

/// WhatsApp accepted a message (server ack).
#[derive(Debug, Clone, PartialEq)]
pub struct SentAck {
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PairCode {
    pub code: String,
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("not connected to WhatsApp")]
    NotConnected,
    #[error("{0} is not on WhatsApp")]
    NotOnWhatsApp(String),
    /// WhatsApp nacked the stanza with this code.
    #[error("WhatsApp rejected the message (error {0})")]
    Rejected(String),
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    #[error("already linked")]
    AlreadyLinked,
    #[error("not supported by this engine: {0}")]
    Unsupported(&'static str),
    /// The group does not exist, or this account is not in it.
    #[error("no group {0} this account is in")]
    GroupNotFound(String),
    /// Only an admin of the group may do that.
    #[error("not an admin of group {0}")]
    NotGroupAdmin(String),
    /// The request contradicts what WhatsApp already holds (e.g. joining a group twice).
    #[error("{0}")]
    Conflict(String),
    /// WhatsApp asks to slow down.
    #[error("WhatsApp asks to slow down")]
    RateLimited,
    /// An invite link that does not exist or was reset.
    #[error("invite link is invalid or was reset")]
    InviteInvalid,
}

impl EngineError {
    /// A media message whose URL the outbox had not fetched: a bug, never sent half-made.
    pub fn unfetched_media() -> Self {
        Self::Permanent("media must be fetched before it is sent".into())
    }

    /// Worth retrying the same operation later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NotConnected | Self::Transient(_) | Self::RateLimited => true,
            // 5xx-class nacks are server-side hiccups; 4xx ones are about the message itself.
            Self::Rejected(code) => code.starts_with('5'),
            _ => false,
        }
    }
}

/// What a session needs from WhatsApp.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// `whatsapp` or `simulator`.
    fn kind(&self) -> EngineKind;
    /// Starts connecting in the background; progress arrives as events.
    async fn start(&self) -> Result<(), EngineError>;
    /// Disconnects and flushes the engine's own store; `start` may be called again.
    async fn stop(&self);
    /// Drops the connection and connects again with the same identity.
    async fn restart(&self) -> Result<(), EngineError> {
        self.stop().await;
        self.start().await
    }
    /// Unlinks the device and forgets the identity; a new QR follows.
    async fn logout(&self) -> Result<(), EngineError>;
    /// Deletes everything the engine stored (call after `stop`).
    async fn purge(&self) -> Result<(), EngineError>;
    /// Sends and returns once WhatsApp acked (or nacked) the message.
    async fn send(&self, message: &OutgoingMessage) -> Result<SentAck, EngineError>;
    async fn check_numbers(&self, numbers: &[String]) -> Result<Vec<NumberCheck>, EngineError>;
    async fn groups(&self) -> Result<Vec<GroupInfo>, EngineError>;
    /// Asks for a code to link by phone number instead of QR.
    async fn pair_code(&self, phone: &str) -> Result<PairCode, EngineError>;
    /// Sends read receipts for `ids`, received in `chat` (from `sender` in a group).
    async fn mark_read(
        &self,
        chat: &str,
        sender: Option<&str>,
        ids: &[String],
    ) -> Result<(), EngineError>;
    /// Deletes `message` of `chat` on this account's devices only (WhatsApp's "delete for
    /// me"); `sent_at` is its time (Unix ms).
    async fn delete_for_me(
        &self,
        chat: &str,
        message: &MessageRef,
        sent_at: i64,
    ) -> Result<(), EngineError>;
    /// Shows `state` (typing, recording, paused) in `chat`.
    async fn chat_state(&self, chat: &str, state: ChatState) -> Result<(), EngineError>;
    /// Shows the account online (`true`) or offline.
    async fn set_presence(&self, available: bool) -> Result<(), EngineError>;
    /// Declines a ringing call (the caller sees it declined).
    async fn reject_call(&self, call: &IncomingCall) -> Result<(), EngineError>;
    /// Creating and administering groups.
    fn group_admin(&self) -> &dyn GroupAdmin;
    /// Looking people up (about, picture, business, LID) and blocking them.
    fn contacts(&self) -> &dyn ContactDirectory;
    /// This account's own name, about text and picture.
    fn profile(&self) -> &dyn OwnProfile;
    /// The test-only controls of the simulator; `None` for real engines.
    fn sandbox(&self) -> Option<&dyn simulator::Sandbox> {
        None
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The real WhatsApp client (whatsapp-rust).
    Whatsapp,
    /// An in-process stand-in for WhatsApp and the phone: tests and sandboxes only.
    Simulator,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Simulator => "simulator",
        }
    }
}

/// Engine settings that are not per session.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Override of WhatsApp's WebSocket URL (the protocol simulator in tests).
    pub whatsapp_ws_url: Option<String>,
    /// Inbound media larger than this is not kept (declared or actual size).
    pub max_inbound_media_bytes: u64,
    /// Pinned WhatsApp Web version; `None` reads the current one from web.whatsapp.com.
    pub whatsapp_version: Option<(u32, u32, u32)>,
    /// Turns to log in, shared by every session built from these options.
    pub connect_pacer: pacer::ConnectPacer,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            whatsapp_ws_url: None,
            max_inbound_media_bytes: 64 * 1024 * 1024,
            whatsapp_version: None,
            connect_pacer: pacer::ConnectPacer::default(),
        }
    }
}

/// Builds the engine of `kind` for the session whose volume is `dir`.
pub fn build_engine(
    kind: EngineKind,
    session_id: &str,
    dir: &Path,
    options: &EngineOptions,
    sink: EventSink,
) -> Arc<dyn Engine> {
    match kind {
        EngineKind::Whatsapp => Arc::new(whatsapp::WhatsAppEngine::new(
            session_id, dir, options, sink,
        )),
        EngineKind::Simulator => Arc::new(simulator::SimulatorEngine::new(session_id, dir, sink)),
    }
}
