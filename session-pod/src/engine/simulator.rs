//! A stand-in for WhatsApp and the user's phone, selected only by `--engine simulator`.
//!
//! It behaves like the real engine at the seam: a deterministic QR until "scanned"
//! through the sandbox API, a link that persists in the data dir (a restart comes back
//! connected), server-side dedupe of message ids, numbers ending in `0000` that are not
//! on WhatsApp. Every message it accepts is appended to `simulator-sent.jsonl`, so tests
//! can check what "reached WhatsApp" and how often.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use wagate_api::{
    BlockedContact, ChatState, ContactInfo, GroupChanges, GroupInfo, GroupParticipantsData,
    GroupUpdatedData, JoinGroupResponse, MediaSource, MessageBody, MessageStatus, NumberCheck,
    ParticipantAction, ParticipantResult, Profile,
};

mod groups;

pub use groups::OPEN_GROUP_CODE;
use groups::SimGroups;

use super::{
    ContactDirectory, Engine, EngineError, EngineEvent, EngineKind, EventSink, GroupAdmin,
    InboundMessage, OutgoingMessage, PairCode, SentAck,
};

const LINK_FILE: &str = "simulator-link.json";
pub const SENT_LOG_FILE: &str = "simulator-sent.jsonl";
const QR_TTL: Duration = Duration::from_secs(60);

/// Test-only controls of the simulated phone and server.
#[async_trait]
pub trait Sandbox: Send + Sync {
    /// The phone scans the current QR (or confirms the pairing code); returns the linked number.
    async fn scan(&self, phone: Option<String>) -> Result<String, EngineError>;
    /// Someone sends this account a message.
    async fn inbound(&self, message: InboundMessage) -> Result<(), EngineError>;
    /// Someone calls this account (a blocked caller never rings).
    async fn call(&self, call: super::IncomingCall) -> Result<(), EngineError>;
    /// A contact types, records or stops in `chat`.
    async fn chat_presence(
        &self,
        chat: String,
        from: String,
        state: ChatState,
    ) -> Result<(), EngineError>;
    /// Member `by` changes `group` from their phone, with WhatsApp's rules (only an admin
    /// changes members and settings): the session hears of it as WhatsApp's notification.
    async fn group_change(
        &self,
        by: String,
        group: String,
        change: SandboxGroupChange,
    ) -> Result<(), EngineError>;
    /// The recipient's phone reports delivery progress.
    async fn receipt(
        &self,
        message_ids: Vec<String>,
        status: MessageStatus,
    ) -> Result<(), EngineError>;
    /// The connection drops; the engine reconnects after `down_for`.
    async fn drop_connection(&self, down_for: Duration) -> Result<(), EngineError>;
    /// The next `count` sends fail with a transient server error.
    fn fail_next_sends(&self, count: u32);
    /// Everything accepted so far, in order.
    fn sent(&self) -> Vec<SimulatedSend>;
}

/// What a member does to a group in [`Sandbox::group_change`].
#[derive(Debug, Clone)]
pub enum SandboxGroupChange {
    Participants(ParticipantAction, Vec<String>),
    Settings(GroupChanges),
}

/// One message the simulated server accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedSend {
    pub id: String,
    pub to: String,
    pub kind: String,
    pub text: Option<String>,
    pub bytes: Option<usize>,
    /// The message as it was sent (media bytes left out).
    #[serde(default)]
    pub body: Option<MessageBody>,
    pub at: chrono::DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    phone: String,
    push_name: String,
    /// The account's own profile and blocklist, kept with the link as WhatsApp keeps them
    /// with the account.
    #[serde(default)]
    about: Option<String>,
    #[serde(default)]
    picture_id: Option<u32>,
    #[serde(default)]
    blocked: std::collections::BTreeSet<String>,
}

#[derive(Default)]
struct SimState {
    running: bool,
    connected: bool,
    link: Option<Link>,
    qr_rotation: u32,
    fail_next: u32,
    sent_ids: HashSet<String>,
    sent: Vec<SimulatedSend>,
    qr_task: Option<JoinHandle<()>>,
    /// Loaded when first asked for, once the account's number is known.
    groups: Option<SimGroups>,
}

pub struct SimulatorEngine {
    session_id: String,
    dir: PathBuf,
    sink: EventSink,
    state: Arc<Mutex<SimState>>,
}

impl SimulatorEngine {
    pub fn new(session_id: &str, dir: &Path, sink: EventSink) -> Self {
        let link = std::fs::read(dir.join(LINK_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let sent = read_sent_log(&dir.join(SENT_LOG_FILE));
        let state = SimState {
            link,
            sent_ids: sent.iter().map(|s| s.id.clone()).collect(),
            sent,
            ..Default::default()
        };
        Self {
            session_id: session_id.to_string(),
            dir: dir.to_path_buf(),
            sink,
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Receipts and presence go nowhere in the simulator; like WhatsApp, it needs a
    /// connection to take them.
    fn connected_or_refuse(&self) -> Result<(), EngineError> {
        if self.lock().connected {
            Ok(())
        } else {
            Err(EngineError::NotConnected)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the account's groups (the linked number is `me`); refused while not
    /// connected, like WhatsApp.
    fn with_groups<R>(
        &self,
        f: impl FnOnce(&mut SimGroups, &str) -> Result<R, EngineError>,
    ) -> Result<R, EngineError> {
        let mut state = self.lock();
        let me = match state.link.as_ref().filter(|_| state.connected) {
            Some(link) => link.phone.clone(),
            None => return Err(EngineError::NotConnected),
        };
        let groups = state
            .groups
            .get_or_insert_with(|| SimGroups::load(&self.dir, &me));
        f(groups, &me)
    }

    fn emit(&self, event: EngineEvent) {
        // The session owns the receiver for as long as the engine lives.
        let _ = self.sink.send(event);
    }

    /// The deterministic QR payload of a rotation, shaped like WhatsApp's `ref,key,identity,adv`.
    pub fn qr_code(session_id: &str, rotation: u32) -> String {
        format!(
            "2@wagate-sim/{session_id}/{rotation},c2ltdWxhdG9yLW5vaXNl,c2ltdWxhdG9yLWlk,c2ltdWxhdG9yLWFkdg=="
        )
    }

    /// The number a scan links when the test does not choose one: stable per session.
    pub fn default_phone(session_id: &str) -> String {
        let digest = Sha256::digest(session_id.as_bytes());
        let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 100_000_000;
        format!("1555{n:08}")
    }

    fn save_link(&self, link: Option<&Link>) -> Result<(), EngineError> {
        let path = self.dir.join(LINK_FILE);
        let result = match link {
            Some(link) => write_atomically(&path, &serde_json::to_vec(link).expect("serializable")),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        result.map_err(|e| EngineError::Permanent(format!("simulator link store: {e}")))
    }

    /// Shows QR rotation `n` and schedules the next one, like WhatsApp's expiring refs.
    fn begin_pairing(&self, state: &mut SimState) {
        if let Some(task) = state.qr_task.take() {
            task.abort();
        }
        let (sink, shared, session_id) = (
            self.sink.clone(),
            self.state.clone(),
            self.session_id.clone(),
        );
        state.qr_task = Some(tokio::spawn(async move {
            loop {
                let rotation = {
                    let st = shared.lock().unwrap_or_else(|p| p.into_inner());
                    if !st.running || st.link.is_some() {
                        return;
                    }
                    st.qr_rotation
                };
                let _ = sink.send(EngineEvent::Qr {
                    code: Self::qr_code(&session_id, rotation),
                    ttl: QR_TTL,
                });
                tokio::time::sleep(QR_TTL).await;
                shared.lock().unwrap_or_else(|p| p.into_inner()).qr_rotation += 1;
            }
        }));
    }

    fn connect(&self, state: &mut SimState) {
        match &state.link {
            Some(link) => {
                state.connected = true;
                self.emit(EngineEvent::Connected {
                    phone: Some(link.phone.clone()),
                    push_name: Some(link.push_name.clone()),
                });
            }
            None => self.begin_pairing(state),
        }
    }

    fn append_sent(&self, record: &SimulatedSend) -> Result<(), EngineError> {
        let line = serde_json::to_string(record).expect("serializable") + "\n";
        // Written through to the OS before acking, so a kill -9 of the gateway cannot lose it.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(SENT_LOG_FILE))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| EngineError::Transient(format!("simulator log: {e}")))
    }
}

fn read_sent_log(path: &Path) -> Vec<SimulatedSend> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn not_on_whatsapp(digits: &str) -> bool {
    digits.ends_with("0000")
}

#[async_trait]
impl Engine for SimulatorEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Simulator
    }

    async fn start(&self) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.running = true;
        self.emit(EngineEvent::Connecting { last_error: None });
        self.connect(&mut state);
        Ok(())
    }

    async fn stop(&self) {
        let mut state = self.lock();
        state.running = false;
        state.connected = false;
        if let Some(task) = state.qr_task.take() {
            task.abort();
        }
    }

    async fn logout(&self) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.link = None;
        // The groups were the account's; a new link may be another number.
        state.groups = None;
        groups::forget(&self.dir);
        state.connected = false;
        self.save_link(None)?;
        self.emit(EngineEvent::LoggedOut {
            reason: "logged out by API".into(),
        });
        if state.running {
            state.qr_rotation += 1;
            self.begin_pairing(&mut state);
        }
        Ok(())
    }

    async fn purge(&self) -> Result<(), EngineError> {
        let mut state = self.lock();
        state.link = None;
        state.groups = None;
        groups::forget(&self.dir);
        self.save_link(None)
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentAck, EngineError> {
        let mut state = self.lock();
        if !state.connected {
            return Err(EngineError::NotConnected);
        }
        let user = message.to.split('@').next().unwrap_or_default();
        if message.to.ends_with("@s.whatsapp.net") && not_on_whatsapp(user) {
            return Err(EngineError::NotOnWhatsApp(user.to_string()));
        }
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(EngineError::Rejected("500".into()));
        }
        // WhatsApp dedupes by message id: a resend after a crash is acked, not delivered twice.
        if state.sent_ids.contains(&message.id) {
            return Ok(SentAck { at: Utc::now() });
        }
        let (kind, text, bytes) = match &message.body {
            MessageBody::Text { text, .. } => ("text".to_string(), Some(text.clone()), None),
            MessageBody::Media {
                kind,
                source: MediaSource::Inline { bytes },
                caption,
                ..
            } => (
                kind.as_str().to_string(),
                caption.clone(),
                Some(bytes.len()),
            ),
            MessageBody::Media {
                source: MediaSource::Url { .. },
                ..
            } => return Err(EngineError::unfetched_media()),
            MessageBody::Location {
                latitude,
                longitude,
                name,
                ..
            } => (
                "location".to_string(),
                Some(
                    name.clone()
                        .unwrap_or_else(|| format!("{latitude},{longitude}")),
                ),
                None,
            ),
            MessageBody::Reaction { emoji, .. } => {
                ("reaction".to_string(), Some(emoji.clone()), None)
            }
            MessageBody::Edit { text, .. } => ("edit".to_string(), Some(text.clone()), None),
            MessageBody::Poll { question, .. } => {
                ("poll".to_string(), Some(question.clone()), None)
            }
            MessageBody::Revoke { target } => ("revoke".to_string(), Some(target.clone()), None),
            MessageBody::Contacts { contacts } => (
                "contacts".to_string(),
                Some(
                    contacts
                        .iter()
                        .map(|c| c.display_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None,
            ),
        };
        let mut body = message.body.clone();
        body.take_inline_bytes();
        let record = SimulatedSend {
            id: message.id.clone(),
            to: message.to.clone(),
            kind,
            text,
            bytes,
            body: Some(body),
            at: Utc::now(),
        };
        self.append_sent(&record)?;
        state.sent_ids.insert(record.id.clone());
        state.sent.push(record);
        Ok(SentAck { at: Utc::now() })
    }

    async fn mark_read(
        &self,
        _chat: &str,
        _sender: Option<&str>,
        _ids: &[String],
    ) -> Result<(), EngineError> {
        self.connected_or_refuse()
    }

    async fn delete_for_me(
        &self,
        _chat: &str,
        _message: &wagate_api::MessageRef,
        _sent_at: i64,
    ) -> Result<(), EngineError> {
        self.connected_or_refuse()
    }

    async fn chat_state(&self, _chat: &str, _state: ChatState) -> Result<(), EngineError> {
        self.connected_or_refuse()
    }

    /// Recorded among what the simulated server accepted (`kind: "call-reject"`), so a
    /// sandbox app can see its `rejectCalls` work.
    async fn reject_call(&self, call: &super::IncomingCall) -> Result<(), EngineError> {
        let mut state = self.lock();
        if !state.connected {
            return Err(EngineError::NotConnected);
        }
        let send = SimulatedSend {
            id: call.call_id.clone(),
            to: call.from.clone(),
            kind: "call-reject".into(),
            text: None,
            bytes: None,
            body: None,
            at: Utc::now(),
        };
        state.sent.push(send);
        Ok(())
    }

    async fn set_presence(&self, _available: bool) -> Result<(), EngineError> {
        self.connected_or_refuse()
    }

    async fn check_numbers(&self, numbers: &[String]) -> Result<Vec<NumberCheck>, EngineError> {
        if !self.lock().connected {
            return Err(EngineError::NotConnected);
        }
        Ok(numbers
            .iter()
            .map(|n| {
                let on = !not_on_whatsapp(n);
                NumberCheck {
                    number: n.clone(),
                    on_whats_app: on,
                    jid: on.then(|| format!("{n}@s.whatsapp.net")),
                    is_business: on && n.ends_with("9999"),
                    verified_name: (on && n.ends_with("9999"))
                        .then(|| "Simulated Business".to_string()),
                }
            })
            .collect())
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, EngineError> {
        self.with_groups(|groups, me| Ok(groups.list(me)))
    }

    fn group_admin(&self) -> &dyn GroupAdmin {
        self
    }

    fn contacts(&self) -> &dyn ContactDirectory {
        self
    }

    fn profile(&self) -> &dyn super::OwnProfile {
        self
    }

    async fn pair_code(&self, phone: &str) -> Result<PairCode, EngineError> {
        let state = self.lock();
        if state.link.is_some() {
            return Err(EngineError::AlreadyLinked);
        }
        let digest = Sha256::digest(format!("{}:{phone}", self.session_id).as_bytes());
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTVWXYZ123456789";
        let code: String = digest[..8]
            .iter()
            .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
            .collect();
        let pair = PairCode {
            code,
            ttl: Duration::from_secs(180),
        };
        self.emit(EngineEvent::PairCode {
            code: pair.code.clone(),
            ttl: pair.ttl,
        });
        Ok(pair)
    }

    fn sandbox(&self) -> Option<&dyn Sandbox> {
        Some(self)
    }
}

#[async_trait]
impl Sandbox for SimulatorEngine {
    async fn scan(&self, phone: Option<String>) -> Result<String, EngineError> {
        let mut state = self.lock();
        if state.link.is_some() {
            return Err(EngineError::AlreadyLinked);
        }
        if !state.running {
            return Err(EngineError::NotConnected);
        }
        let phone = phone.unwrap_or_else(|| Self::default_phone(&self.session_id));
        let link = Link {
            phone: phone.clone(),
            push_name: format!("Sim {}", &phone[phone.len() - 4..]),
            about: Some("Hey there! I am using WhatsApp.".into()),
            picture_id: None,
            blocked: Default::default(),
        };
        self.save_link(Some(&link))?;
        state.link = Some(link);
        self.connect(&mut state);
        Ok(phone)
    }

    async fn inbound(&self, message: InboundMessage) -> Result<(), EngineError> {
        {
            let state = self.lock();
            if !state.connected {
                return Err(EngineError::NotConnected);
            }
            // WhatsApp does not deliver what someone this account blocks sends.
            if !message.from_me
                && state
                    .link
                    .as_ref()
                    .is_some_and(|l| l.blocked.contains(&message.from))
            {
                return Ok(());
            }
        }
        self.emit(EngineEvent::Message(
            Box::new(message),
            super::Committed::not_awaited(),
        ));
        Ok(())
    }

    async fn call(&self, call: super::IncomingCall) -> Result<(), EngineError> {
        {
            let state = self.lock();
            if !state.connected {
                return Err(EngineError::NotConnected);
            }
            if state
                .link
                .as_ref()
                .is_some_and(|l| l.blocked.contains(&call.from))
            {
                return Ok(());
            }
        }
        self.emit(EngineEvent::Call(call));
        Ok(())
    }

    async fn chat_presence(
        &self,
        chat: String,
        from: String,
        state: ChatState,
    ) -> Result<(), EngineError> {
        if !self.lock().connected {
            return Err(EngineError::NotConnected);
        }
        self.emit(EngineEvent::ChatPresence {
            chat,
            from,
            from_lid: None,
            state,
        });
        Ok(())
    }

    async fn group_change(
        &self,
        by: String,
        group: String,
        change: SandboxGroupChange,
    ) -> Result<(), EngineError> {
        let event = self.with_groups(|groups, _| match change {
            SandboxGroupChange::Participants(action, phones) => {
                let done: Vec<String> = groups
                    .participants(&group, action, &phones, &by)?
                    .into_iter()
                    .filter(|r| r.ok)
                    .map(|r| r.participant)
                    .collect();
                Ok((!done.is_empty()).then(|| {
                    EngineEvent::GroupParticipants(GroupParticipantsData {
                        group: group.clone(),
                        action,
                        participants: done,
                        by: Some(by.clone()),
                    })
                }))
            }
            SandboxGroupChange::Settings(changes) => {
                groups.update(&group, &changes, &by)?;
                Ok(Some(EngineEvent::GroupUpdated(GroupUpdatedData {
                    group: group.clone(),
                    by: Some(by.clone()),
                    changes,
                })))
            }
        })?;
        if let Some(event) = event {
            self.emit(event);
        }
        Ok(())
    }

    async fn receipt(
        &self,
        message_ids: Vec<String>,
        status: MessageStatus,
    ) -> Result<(), EngineError> {
        self.emit(EngineEvent::Receipt {
            message_ids,
            status,
        });
        Ok(())
    }

    async fn drop_connection(&self, down_for: Duration) -> Result<(), EngineError> {
        {
            let mut state = self.lock();
            if !state.connected {
                return Err(EngineError::NotConnected);
            }
            state.connected = false;
        }
        self.emit(EngineEvent::Connecting {
            last_error: Some("connection dropped (simulated)".into()),
        });
        let (shared, sink) = (self.state.clone(), self.sink.clone());
        tokio::spawn(async move {
            tokio::time::sleep(down_for).await;
            let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
            if let (true, Some(link)) = (st.running, st.link.clone()) {
                st.connected = true;
                let _ = sink.send(EngineEvent::Connected {
                    phone: Some(link.phone),
                    push_name: Some(link.push_name),
                });
            }
        });
        Ok(())
    }

    fn fail_next_sends(&self, count: u32) {
        self.lock().fail_next = count;
    }

    fn sent(&self) -> Vec<SimulatedSend> {
        self.lock().sent.clone()
    }
}

#[async_trait]
impl GroupAdmin for SimulatorEngine {
    async fn group_info(&self, group: &str) -> Result<GroupInfo, EngineError> {
        self.with_groups(|groups, me| groups.info(group, me))
    }

    async fn create_group(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupInfo, EngineError> {
        self.with_groups(|groups, me| groups.create(subject, participants, me))
    }

    async fn update_group(&self, group: &str, changes: &GroupChanges) -> Result<(), EngineError> {
        self.with_groups(|groups, me| groups.update(group, changes, me))
    }

    async fn group_participants(
        &self,
        group: &str,
        action: ParticipantAction,
        participants: &[String],
    ) -> Result<Vec<ParticipantResult>, EngineError> {
        self.with_groups(|groups, me| groups.participants(group, action, participants, me))
    }

    async fn invite_code(&self, group: &str, reset: bool) -> Result<String, EngineError> {
        self.with_groups(|groups, me| groups.invite_code(group, reset, me))
    }

    async fn join_group(&self, code: &str) -> Result<JoinGroupResponse, EngineError> {
        self.with_groups(|groups, me| groups.join(code, me))
    }

    async fn leave_group(&self, group: &str) -> Result<(), EngineError> {
        self.with_groups(|groups, me| groups.leave(group, me))
    }
}

/// The simulator's people: numbers ending in `0000` are not on WhatsApp, ones ending in
/// `9999` are businesses, ones ending in `0403` hide their about text and picture; each
/// person's LID is `1` followed by their number, so LIDs resolve both ways.
#[async_trait]
impl ContactDirectory for SimulatorEngine {
    async fn contact(&self, jid: &str) -> Result<ContactInfo, EngineError> {
        self.connected_or_refuse()?;
        let (user, server) = jid.split_once('@').unwrap_or((jid, "s.whatsapp.net"));
        let phone = match server {
            "lid" => user.strip_prefix('1').map(str::to_string),
            _ => Some(user.to_string()),
        };
        let Some(phone) = phone.filter(|p| !not_on_whatsapp(p)) else {
            return Ok(ContactInfo {
                jid: jid.to_string(),
                phone: (server != "lid").then(|| user.to_string()),
                ..Default::default()
            });
        };
        let hides = phone.ends_with("0403");
        let business = phone.ends_with("9999");
        Ok(ContactInfo {
            jid: format!("{phone}@s.whatsapp.net"),
            lid: Some(format!("1{phone}@lid")),
            on_whats_app: true,
            push_name: None,
            about: (!hides).then(|| "Hey there! I am using WhatsApp.".to_string()),
            is_business: business,
            verified_name: business.then(|| "Simulated Business".to_string()),
            profile_picture_url: (!hides)
                .then(|| format!("https://pps.whatsapp.net/simulated/{phone}.jpg")),
            phone: Some(phone),
        })
    }

    async fn lid_phone(&self, lid: &str) -> Result<Option<String>, EngineError> {
        self.connected_or_refuse()?;
        let user = lid.strip_suffix("@lid").unwrap_or(lid);
        Ok(user
            .strip_prefix('1')
            .and_then(wagate_api::normalize_phone)
            .filter(|p| !not_on_whatsapp(p)))
    }

    async fn block(&self, jid: &str) -> Result<(), EngineError> {
        let phone = self.known_phone(jid).await?;
        self.with_link(|link| {
            link.blocked.insert(phone);
        })
    }

    async fn unblock(&self, jid: &str) -> Result<(), EngineError> {
        let phone = self.known_phone(jid).await?;
        self.with_link(|link| {
            link.blocked.remove(&phone);
        })
    }

    async fn blocklist(&self) -> Result<Vec<BlockedContact>, EngineError> {
        self.connected_or_refuse()?;
        let state = self.lock();
        let link = state.link.as_ref().ok_or(EngineError::NotConnected)?;
        Ok(link
            .blocked
            .iter()
            .map(|phone| BlockedContact {
                jid: format!("1{phone}@lid"),
                phone: Some(phone.clone()),
                lid: Some(format!("1{phone}@lid")),
            })
            .collect())
    }
}

/// The account's own profile, kept with the simulated link; pictures get an id and a URL
/// on the simulated CDN.
#[async_trait]
impl super::OwnProfile for SimulatorEngine {
    async fn profile(&self) -> Result<Profile, EngineError> {
        self.connected_or_refuse()?;
        let state = self.lock();
        let link = state.link.as_ref().ok_or(EngineError::NotConnected)?;
        Ok(Profile {
            phone: Some(link.phone.clone()),
            lid: Some(format!("1{}@lid", link.phone)),
            push_name: Some(link.push_name.clone()),
            about: link.about.clone().filter(|a| !a.is_empty()),
            profile_picture_url: link.picture_id.map(|id| {
                format!(
                    "https://pps.whatsapp.net/simulated/{}.jpg?id={id}",
                    link.phone
                )
            }),
        })
    }

    async fn set_push_name(&self, name: &str) -> Result<(), EngineError> {
        self.with_link(|link| link.push_name = name.to_string())
    }

    async fn set_about(&self, about: &str) -> Result<(), EngineError> {
        self.with_link(|link| link.about = Some(about.to_string()))
    }

    async fn set_picture(&self, _jpeg: Vec<u8>) -> Result<(), EngineError> {
        self.with_link(|link| link.picture_id = Some(link.picture_id.unwrap_or(0) + 1))
    }

    async fn remove_picture(&self) -> Result<(), EngineError> {
        self.with_link(|link| link.picture_id = None)
    }
}

impl SimulatorEngine {
    /// Changes the linked account's record and keeps it on disk.
    fn with_link(&self, change: impl FnOnce(&mut Link)) -> Result<(), EngineError> {
        self.connected_or_refuse()?;
        let mut state = self.lock();
        let link = state.link.as_mut().ok_or(EngineError::NotConnected)?;
        change(link);
        let link = link.clone();
        self.save_link(Some(&link))
    }

    /// The phone of a person given as a JID, when the simulated WhatsApp knows them.
    async fn known_phone(&self, jid: &str) -> Result<String, EngineError> {
        let info = self.contact(jid).await?;
        match info.phone {
            Some(phone) if info.on_whats_app => Ok(phone),
            _ => Err(EngineError::NotOnWhatsApp(
                info.phone.unwrap_or_else(|| jid.to_string()),
            )),
        }
    }
}
