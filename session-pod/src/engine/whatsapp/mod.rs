//! The real engine: `whatsapp-rust` with its SQLite store at `<data>/whatsapp.db`.
//!
//! The library owns the connection loop (Fibonacci backoff up to 15 min); we observe it
//! through its event bus and through a transport factory that reports dial failures, so
//! the session can say *why* it is still `connecting`.

mod contacts;
mod durability;
mod groups;
mod inbound;
mod outgoing;
mod profile;
mod transport;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use wagate_api::{ChatState, GroupInfo, MessageBody, MessageStatus, NumberCheck};
use whatsapp_rust::RevokeType;
use whatsapp_rust::features::ChatStateType;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::*;
use whatsapp_rust::types::events::ConnectFailureReason;
use whatsapp_rust::wacore::types::presence::ReceiptType;

use super::pacer::{ConnectPacer, LoginTurn};
use super::{
    Committed, ContactDirectory, Engine, EngineError, EngineEvent, EngineKind, EngineOptions,
    EventSink, GroupAdmin, OutgoingMessage, PairCode, SentAck,
};

pub const WHATSAPP_DB: &str = "whatsapp.db";
/// How long to wait for WhatsApp's `<ack>` of a sent message before calling it transient.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the library's graceful disconnect at shutdown.
const STOP_TIMEOUT: Duration = Duration::from_secs(4);
/// Margin after a temporary ban's expiry before reconnecting.
const BAN_GRACE: Duration = Duration::from_secs(1);

pub struct WhatsAppEngine {
    inner: Arc<Inner>,
}

/// Senders waiting for the server's ack of a message id: `Some(code)` on a nack.
type AckWaiters = Mutex<HashMap<String, oneshot::Sender<Option<String>>>>;
/// Numbers confirmed on WhatsApp since start; past this many the set starts over.
const REGISTERED_CACHE_MAX: usize = 10_000;

struct Inner {
    dir: PathBuf,
    /// Where inbound media goes and how large it may be.
    media: inbound::MediaSink,
    ws_url: Option<String>,
    version: Option<(u32, u32, u32)>,
    sink: EventSink,
    bot: tokio::sync::Mutex<Option<Running>>,
    pacer: ConnectPacer,
    /// The turn to log in of the current client (each start has its own).
    login: Mutex<Arc<LoginTurn>>,
    /// Before the first login after the process started, a session already linked waits
    /// this share of the pacer's spread; later starts (a restart, a relink) do not.
    start_delay: Mutex<Option<Duration>>,
    acks: AckWaiters,
    /// Inbound messages the durability hook already handed to the session.
    handled: Arc<durability::Handled>,
    /// Numbers already confirmed on WhatsApp, with the JID WhatsApp answered for each, so
    /// only a first message costs a lookup.
    registered: Mutex<HashMap<String, Jid>>,
    /// Work that must run outside the event drain (it stops the client feeding the drain).
    commands: mpsc::UnboundedSender<Command>,
    me: Weak<Inner>,
}

/// The client of a started engine: waiting for its turn to log in, or running.
enum Running {
    Queued {
        client: Arc<Client>,
        task: tokio::task::JoinHandle<()>,
    },
    Spawned(BotHandle),
}

impl Running {
    fn client(&self) -> Arc<Client> {
        match self {
            Self::Queued { client, .. } => client.clone(),
            Self::Spawned(bot) => bot.client(),
        }
    }
}

enum Command {
    /// Forget the identity and show a fresh QR.
    Relink,
    /// Reconnect with the same identity.
    Restart,
}

impl WhatsAppEngine {
    pub fn new(session_id: &str, dir: &Path, options: &EngineOptions, sink: EventSink) -> Self {
        let (commands, mut command_rx) = mpsc::unbounded_channel();
        let pacer = options.connect_pacer.clone();
        let inner = Arc::new_cyclic(|me| Inner {
            dir: dir.to_path_buf(),
            media: inbound::MediaSink {
                cap: options.max_inbound_media_bytes,
                incoming: crate::media::MediaDir::new(dir).incoming(),
            },
            ws_url: options.whatsapp_ws_url.clone(),
            version: options.whatsapp_version,
            sink,
            bot: tokio::sync::Mutex::new(None),
            start_delay: Mutex::new(Some(pacer.start_delay(session_id))),
            pacer,
            login: Mutex::default(),
            acks: Mutex::new(HashMap::new()),
            registered: Mutex::new(HashMap::new()),
            handled: Arc::default(),
            commands,
            me: me.clone(),
        });
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(command) = command_rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                match command {
                    Command::Relink => inner.relink().await,
                    Command::Restart => {
                        inner.stop().await;
                        let _ = inner.start().await;
                    }
                }
            }
        });
        Self { inner }
    }
}

impl Inner {
    fn emit(&self, event: EngineEvent) {
        let _ = self.sink.send(event);
    }

    async fn client(&self) -> Result<Arc<Client>, EngineError> {
        match self.bot.lock().await.as_ref() {
            Some(bot) if bot.client().is_connected() => Ok(bot.client()),
            _ => Err(EngineError::NotConnected),
        }
    }

    async fn start(&self) -> Result<(), EngineError> {
        let mut slot = self.bot.lock().await;
        if slot.is_some() {
            return Ok(());
        }
        self.emit(EngineEvent::Connecting { last_error: None });
        static TEST_BUILD_WARNED: std::sync::Once = std::sync::Once::new();
        if cfg!(feature = "danger-skip-cert-chain-verify") {
            TEST_BUILD_WARNED.call_once(|| {
                tracing::warn!(
                    "built with danger-skip-cert-chain-verify: WhatsApp's server certificate is \
                     not verified (a test build for the protocol simulator, never for production)"
                );
            });
        }
        let db = self.dir.join(WHATSAPP_DB);
        crate::store::shrink_sqlite_process_wide();
        let store_config = crate::store::whatsapp_store_config();
        let store = match SqliteStore::with_config(&db.to_string_lossy(), store_config).await {
            Ok(store) => store,
            Err(e) => {
                let reason = format!("cannot open WhatsApp store {}: {e}", db.display());
                self.emit(EngineEvent::Failed {
                    reason: reason.clone(),
                });
                return Err(EngineError::Permanent(reason));
            }
        };
        let login = Arc::new(LoginTurn::default());
        *self.login.lock().unwrap_or_else(|p| p.into_inner()) = login.clone();
        let (events, rx) = mpsc::unbounded_channel::<Arc<Event>>();
        tokio::spawn(drain_events(self.me.clone(), rx));
        let mut builder = Bot::builder();
        if let Some(version) = self.version {
            builder = builder.with_version(version);
        }
        let bot = builder
            .with_backend(store)
            .with_transport_factory(transport::ReportingTransport::new(
                self.ws_url.clone(),
                self.sink.clone(),
                self.pacer.clone(),
                login.clone(),
            ))
            .with_http_client(whatsapp_rust::http::UreqHttpClient::new())
            .with_runtime(TokioRuntime)
            .with_inbound_durability_hook(durability::QueueBeforeAck {
                sink: self.sink.clone(),
                handled: self.handled.clone(),
                media: self.media.clone(),
            })
            .with_event_handler(ForwardEvents {
                drain: events,
                login: login.clone(),
            })
            .build()
            .await
            .map_err(|e| {
                let reason = format!("cannot build WhatsApp client: {e}");
                self.emit(EngineEvent::Failed {
                    reason: reason.clone(),
                });
                EngineError::Permanent(reason)
            })?;
        let client = bot.client();
        let delay = self
            .start_delay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|_| client.pn().is_some())
            .unwrap_or_default();
        let task = tokio::spawn(Self::spawn_in_turn(self.me.clone(), bot, login, delay));
        *slot = Some(Running::Queued { client, task });
        Ok(())
    }

    /// Starts the client once this session may log in. Runs on its own task so that a
    /// session waiting for its turn is already open (its API answers, its QR will come).
    async fn spawn_in_turn(me: Weak<Inner>, bot: Bot, login: Arc<LoginTurn>, delay: Duration) {
        tokio::time::sleep(delay).await;
        let Some(pacer) = me.upgrade().map(|inner| inner.pacer.clone()) else {
            return;
        };
        let turn = pacer.turn().await;
        let Some(inner) = me.upgrade() else { return };
        let mut slot = inner.bot.lock().await;
        // Stopped (or stopped and started again) while waiting: this client is not wanted.
        let still_wanted = matches!(
            slot.as_ref(),
            Some(Running::Queued { client, .. }) if Arc::ptr_eq(client, &bot.client())
        );
        if still_wanted {
            login.hold(turn);
            *slot = Some(Running::Spawned(bot.spawn()));
        }
    }

    async fn stop(&self) {
        let running = self.bot.lock().await.take();
        self.login.lock().unwrap_or_else(|p| p.into_inner()).close();
        let mut bot = match running {
            None => return,
            Some(Running::Queued { task, .. }) => return task.abort(),
            Some(Running::Spawned(bot)) => bot,
        };
        bot.client().disconnect().await;
        // The handle resolves when the run loop has exited (after the library's flush).
        if tokio::time::timeout(STOP_TIMEOUT, &mut bot).await.is_err() {
            tracing::warn!("WhatsApp client did not stop in time; aborting it");
            bot.abort();
        }
    }

    /// Forgets the identity and starts over with a fresh QR (after a logout).
    async fn relink(&self) {
        self.stop().await;
        if let Err(e) = self.wipe() {
            self.emit(EngineEvent::Failed {
                reason: format!("cannot reset WhatsApp store: {e}"),
            });
            return;
        }
        let _ = self.start().await;
    }

    fn wipe(&self) -> std::io::Result<()> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            match std::fs::remove_file(self.dir.join(format!("{WHATSAPP_DB}{suffix}"))) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Maps one library event onto ours; runs on our own task, in arrival order.
    async fn on_event(&self, event: &Event) {
        match event {
            Event::PairingQrCode(qr) => self.emit(EngineEvent::Qr {
                code: qr.code.clone(),
                ttl: qr.timeout,
            }),
            Event::PairingCode(code) => self.emit(EngineEvent::PairCode {
                code: code.code.clone(),
                ttl: code.timeout,
            }),
            Event::Connected(_) => {
                let client = self.bot.lock().await.as_ref().map(|b| b.client());
                let phone = client
                    .as_ref()
                    .and_then(|c| c.pn())
                    .map(|jid| jid.user.to_string());
                let push_name = client.map(|c| c.push_name()).filter(|n| !n.is_empty());
                self.emit(EngineEvent::Connected { phone, push_name });
            }
            Event::Disconnected(d) => self.emit(EngineEvent::Connecting {
                last_error: Some(format!("disconnected: {:?}", d.reason)),
            }),
            Event::LoggedOut(out) => {
                self.emit(EngineEvent::LoggedOut {
                    reason: format!("logged out ({:?})", out.reason),
                });
                let _ = self.commands.send(Command::Relink);
            }
            Event::TemporaryBan(ban) => {
                let until = Utc::now() + ban.expire;
                self.emit(EngineEvent::Banned {
                    until,
                    reason: format!("temporarily banned ({:?})", ban.code),
                });
                // The library stops reconnecting on a ban; come back by ourselves once it
                // ends (a ban that is still on answers with a new expiry).
                let me = self.me.clone();
                let wait = ban.expire.to_std().unwrap_or_default() + BAN_GRACE;
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Some(inner) = me.upgrade()
                        && inner.client().await.is_err()
                    {
                        let _ = inner.commands.send(Command::Restart);
                    }
                });
            }
            Event::ClientOutdated(_) => self.emit(EngineEvent::Failed {
                reason: "WhatsApp says this client version is outdated; upgrade wagate".into(),
            }),
            Event::StreamReplaced(_) => self.emit(EngineEvent::Failed {
                reason:
                    "another client connected with this session's credentials (stream replaced)"
                        .into(),
            }),
            Event::ConnectFailure(f) => match f.reason {
                ConnectFailureReason::ClientOutdated => self.emit(EngineEvent::Failed {
                    reason: "WhatsApp says this client version is outdated; upgrade wagate".into(),
                }),
                ref reason => self.emit(EngineEvent::Connecting {
                    last_error: Some(format!(
                        "connect refused ({reason:?}){}",
                        f.message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    )),
                }),
            },
            Event::StreamError(e) => self.emit(EngineEvent::Connecting {
                last_error: Some(format!("stream error {}", e.code)),
            }),
            Event::PairingQrCodesExhausted(ex) => {
                self.emit(EngineEvent::Connecting {
                    last_error: Some("QR codes expired without a scan; requesting new ones".into()),
                });
                if ex.disconnected {
                    let _ = self.commands.send(Command::Restart);
                }
            }
            Event::Messages(batch) => {
                let client = self.bot.lock().await.as_ref().map(|b| b.client());
                for message in batch.messages.iter() {
                    if self.handled.contains(&durability::Handled::key(message)) {
                        continue;
                    }
                    if let Some(inbound) =
                        inbound::convert(client.as_deref(), &self.media, message).await
                    {
                        self.emit(EngineEvent::Message(
                            Box::new(inbound),
                            Committed::not_awaited(),
                        ));
                    }
                }
            }
            Event::Receipt(receipt) => {
                let status = match receipt.r#type {
                    ReceiptType::Delivered => Some(MessageStatus::Delivered),
                    ReceiptType::Read | ReceiptType::Played => Some(MessageStatus::Read),
                    _ => None,
                };
                if let Some(status) = status {
                    let message_ids = receipt
                        .message_ids
                        .iter()
                        .map(|id| id.to_string())
                        .collect();
                    self.emit(EngineEvent::Receipt {
                        message_ids,
                        status,
                    });
                }
            }
            Event::ServerAck(ack) => {
                let waiter = self
                    .acks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&ack.id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(ack.error.clone());
                }
            }
            Event::GroupUpdate(update) => {
                if let Some(event) = groups::group_event(update) {
                    self.emit(event);
                }
            }
            // Only a live offer rings; an offline one is a missed call, an end, etc. news.
            Event::IncomingCall(call) if !call.offline => {
                use whatsapp_rust::wacore::types::call::CallAction;
                let CallAction::Offer {
                    call_id,
                    call_creator,
                    caller_pn,
                    is_video,
                    group_jid,
                    ..
                } = &call.action
                else {
                    return;
                };
                let client = self.bot.lock().await.as_ref().map(|bot| bot.client());
                let who =
                    inbound::identify(client.as_deref(), &call.from, caller_pn.as_ref()).await;
                self.emit(EngineEvent::Call(crate::engine::IncomingCall {
                    call_id: call_id.clone(),
                    from: who.phone_or_jid,
                    from_lid: who.lid,
                    video: *is_video,
                    group: group_jid.as_ref().map(|g| g.to_string()),
                    peer: call.from.to_string(),
                    creator: call_creator.to_string(),
                }));
            }
            Event::ChatPresence(update) => {
                use whatsapp_rust::wacore::types::presence::{ChatPresence, ChatPresenceMedia};
                let state = match (&update.state, &update.media) {
                    (ChatPresence::Composing, ChatPresenceMedia::Audio) => ChatState::Recording,
                    (ChatPresence::Composing, _) => ChatState::Composing,
                    (ChatPresence::Paused, _) => ChatState::Paused,
                };
                let client = self.bot.lock().await.as_ref().map(|bot| bot.client());
                let who = inbound::identify(
                    client.as_deref(),
                    &update.source.sender,
                    update.source.sender_alt.as_ref(),
                )
                .await;
                let chat = match (&who.phone, update.source.is_group) {
                    (Some(phone), false) => format!("{phone}@s.whatsapp.net"),
                    _ => update.source.chat.to_non_ad().to_string(),
                };
                self.emit(EngineEvent::ChatPresence {
                    chat,
                    from: who.phone_or_jid,
                    from_lid: who.lid,
                    state,
                });
            }
            _ => {}
        }
    }
}

/// Hands every library event to our drain, inline on the library's dispatch path, so
/// they keep their order without a mailbox allocated up front for each session. The
/// end of a login gives its turn back right here, before the library can dial again.
struct ForwardEvents {
    drain: mpsc::UnboundedSender<Arc<Event>>,
    login: Arc<LoginTurn>,
}

impl EventHandler for ForwardEvents {
    fn handle_event(&self, event: Arc<Event>) {
        if ends_login(&event) {
            self.login.release();
        }
        let _ = self.drain.send(event);
    }
}

/// Events after which a login is over: connected, refused, cut, or waiting for a person
/// to scan a QR or type a code.
fn ends_login(event: &Event) -> bool {
    matches!(
        event,
        Event::Connected(_)
            | Event::Disconnected(_)
            | Event::ConnectFailure(_)
            | Event::LoggedOut(_)
            | Event::TemporaryBan(_)
            | Event::ClientOutdated(_)
            | Event::StreamReplaced(_)
            | Event::PairingQrCode(_)
            | Event::PairingCode(_)
            | Event::PairingQrCodesExhausted(_)
    )
}

async fn drain_events(engine: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Arc<Event>>) {
    while let Some(event) = rx.recv().await {
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.on_event(&event).await;
    }
}

impl WhatsAppEngine {
    /// The JID a message to `number` must go to: WhatsApp's canonical form of it (a
    /// Brazilian mobile dialled with its ninth digit may be registered without it, and a
    /// message to the other form goes nowhere). A number not on WhatsApp fails as
    /// `number_not_on_whatsapp` up front, since the library would send only our own
    /// devices' copies.
    async fn canonical_recipient(&self, number: &str) -> Result<Jid, EngineError> {
        let known = || {
            self.inner
                .registered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(jid) = known().get(number) {
            return Ok(jid.clone());
        }
        let client = self.inner.client().await?;
        let check = contacts::check_numbers(&client, &[number.to_string()])
            .await?
            .pop();
        let jid: Jid = match check.and_then(|c| c.jid) {
            Some(jid) => jid
                .parse()
                .map_err(|e| EngineError::Transient(format!("WhatsApp answered {jid}: {e}")))?,
            None => return Err(EngineError::NotOnWhatsApp(number.to_string())),
        };
        let mut cache = known();
        if cache.len() >= REGISTERED_CACHE_MAX {
            cache.clear();
        }
        cache.insert(number.to_string(), jid.clone());
        Ok(jid)
    }
}

#[async_trait]
impl Engine for WhatsAppEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Whatsapp
    }

    async fn start(&self) -> Result<(), EngineError> {
        self.inner.start().await
    }

    async fn stop(&self) {
        self.inner.stop().await
    }

    async fn logout(&self) -> Result<(), EngineError> {
        let client = match self.inner.bot.lock().await.as_ref() {
            Some(Running::Spawned(bot)) => Some(bot.client()),
            // Still waiting for its turn: not connected, nothing to tell WhatsApp yet.
            _ => None,
        };
        match client {
            // The library dispatches LoggedOut, which relinks with a fresh QR.
            Some(client) => client.logout().await,
            None => {
                self.inner.emit(EngineEvent::LoggedOut {
                    reason: "logged out by API".into(),
                });
                self.inner.relink().await;
            }
        }
        Ok(())
    }

    async fn purge(&self) -> Result<(), EngineError> {
        self.inner.stop().await;
        self.inner
            .wipe()
            .map_err(|e| EngineError::Permanent(format!("cannot delete WhatsApp store: {e}")))
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<SentAck, EngineError> {
        let client = self.inner.client().await?;
        let to: Jid = message
            .to
            .parse()
            .map_err(|e| EngineError::Permanent(format!("bad recipient {}: {e}", message.to)))?;
        if let MessageBody::Revoke { target } = &message.body {
            // The library sends a revoke under an id of its own: it is accepted once written
            // (a second revoke of the same message, after a crash, changes nothing).
            client
                .revoke_message(to, target.clone(), RevokeType::Sender)
                .await
                .map_err(|e| EngineError::Transient(format!("revoke failed: {e}")))?;
            return Ok(SentAck { at: Utc::now() });
        }
        let to = if to.is_pn() && !matches!(message.body, MessageBody::Edit { .. }) {
            self.canonical_recipient(&to.user).await?
        } else {
            to
        };
        let (tx, rx) = oneshot::channel();
        self.inner
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(message.id.clone(), tx);
        let sent = match &message.body {
            // Under the outbox's id, so the ack is the one awaited below.
            MessageBody::Edit {
                target,
                text,
                caption_of,
            } => client
                .edit_message_with_options(
                    to,
                    target.clone(),
                    outgoing::edited_content(text, *caption_of),
                    EditOptions::default().with_stanza_id(message.id.clone()),
                )
                .await
                .map(drop),
            _ => match outgoing::build(&client, message).await {
                Ok(body) => client
                    .send_message_with_options(
                        to,
                        body,
                        SendOptions::default().with_message_id(message.id.clone()),
                    )
                    .await
                    .map(drop),
                Err(e) => {
                    self.inner
                        .acks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&message.id);
                    return Err(e);
                }
            },
        };
        let cleanup = || {
            self.inner
                .acks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&message.id)
        };
        if let Err(e) = sent {
            cleanup();
            return Err(EngineError::Transient(format!("send failed: {e}")));
        }
        match tokio::time::timeout(ACK_TIMEOUT, rx).await {
            Ok(Ok(None)) => Ok(SentAck { at: Utc::now() }),
            Ok(Ok(Some(code))) => Err(EngineError::Rejected(code)),
            Ok(Err(_)) | Err(_) => {
                cleanup();
                Err(EngineError::Transient(
                    "WhatsApp did not acknowledge the message in time".into(),
                ))
            }
        }
    }

    async fn check_numbers(&self, numbers: &[String]) -> Result<Vec<NumberCheck>, EngineError> {
        let client = self.inner.client().await?;
        contacts::check_numbers(&client, numbers).await
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, EngineError> {
        let client = self.inner.client().await?;
        let own = groups::own_users(&client);
        let groups = client
            .groups()
            .get_participating()
            .await
            .map_err(|e| EngineError::Transient(format!("group list failed: {e}")))?;
        let mut out: Vec<GroupInfo> = groups
            .values()
            .map(|g| groups::facts_of(g).into_info(&own))
            .collect();
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        Ok(out)
    }

    fn group_admin(&self) -> &dyn GroupAdmin {
        self
    }

    fn contacts(&self) -> &dyn ContactDirectory {
        self
    }

    fn profile(&self) -> &dyn crate::engine::OwnProfile {
        self
    }

    async fn mark_read(
        &self,
        chat: &str,
        sender: Option<&str>,
        ids: &[String],
    ) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let chat = parse_jid(chat)?;
        let sender = sender.map(parse_jid).transpose()?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        client
            .mark_as_read(&chat, sender.as_ref(), &ids)
            .await
            .map_err(|e| EngineError::Transient(format!("read receipt failed: {e}")))
    }

    async fn delete_for_me(
        &self,
        chat: &str,
        message: &wagate_api::MessageRef,
        sent_at: i64,
    ) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let chat = parse_jid(chat)?;
        let participant = message.participant.as_deref().map(parse_jid).transpose()?;
        client
            .chat_actions()
            .delete_message_for_me(
                &chat,
                participant.as_ref(),
                &message.id,
                message.from_me,
                // Its media goes too, as the phone's "delete for me" does.
                true,
                Some(sent_at / 1000),
            )
            .await
            .map_err(|e| EngineError::Transient(format!("delete for me failed: {e}")))
    }

    async fn chat_state(&self, chat: &str, state: ChatState) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let chat = parse_jid(chat)?;
        let state = match state {
            ChatState::Composing => ChatStateType::Composing,
            ChatState::Recording => ChatStateType::Recording,
            ChatState::Paused => ChatStateType::Paused,
        };
        client
            .chatstate()
            .send(&chat, state)
            .await
            .map_err(|e| EngineError::Transient(format!("chat state failed: {e}")))
    }

    async fn reject_call(&self, call: &crate::engine::IncomingCall) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let jid = |raw: &str| {
            raw.parse::<Jid>()
                .map_err(|_| EngineError::Permanent(format!("not a JID: {raw}")))
        };
        client
            .voip()
            .reject_call(&call.call_id, &jid(&call.peer)?, &jid(&call.creator)?)
            .await
            .map_err(|e| EngineError::Transient(format!("call reject failed: {e}")))
    }

    async fn set_presence(&self, available: bool) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let presence = client.presence();
        let set = if available {
            presence.set_available().await
        } else {
            presence.set_unavailable().await
        };
        set.map_err(|e| EngineError::Transient(format!("presence failed: {e}")))
    }

    async fn pair_code(&self, phone: &str) -> Result<PairCode, EngineError> {
        let client = match self.inner.bot.lock().await.as_ref() {
            Some(bot) => bot.client(),
            None => return Err(EngineError::NotConnected),
        };
        let options = PairCodeOptions {
            phone_number: phone.to_string(),
            ..Default::default()
        };
        let code = client
            .pair_with_code(options)
            .await
            .map_err(|e| EngineError::Transient(format!("pairing code request failed: {e}")))?;
        Ok(PairCode {
            code,
            ttl: Duration::from_secs(180),
        })
    }
}

/// A JID the gateway made (a chat or a sender of the index).
fn parse_jid(raw: &str) -> Result<Jid, EngineError> {
    raw.parse()
        .map_err(|e| EngineError::Permanent(format!("bad JID {raw}: {e}")))
}
