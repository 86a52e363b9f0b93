//! A protocol-level WhatsApp simulator for end-to-end tests of the real engine.
//!
//! It plays WhatsApp's chat server (`ws://…/ws/chat`, Noise XX/IK/XX-fallback, binary
//! nodes), the account's phone (scans the QR, signs the new device, shares the app-state
//! key, removes devices) and contacts (Signal sessions, messages, receipts), built from the
//! same crates `whatsapp-rust` is built from. What a contact "receives" is what its Signal
//! session decrypted from the client's real ciphertext.
//!
//! Use it in-process ([`Simulator::start`]) or as the `wagate-wa-sim` binary, whose HTTP
//! API ([`http`]) exposes the same phone and fault controls.

mod appstate;
mod calls;
mod conn;
mod contact_acts;
mod dispatch;
mod faults;
mod groups;
pub mod http;
mod iq;
mod link;
mod logins;
pub mod media;
mod messaging;
mod nodes;
pub mod noise;
mod pair_code;
mod pairing;
mod phone;
mod profile;
pub mod signal;
mod usync;
pub mod wire;
mod world;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use calls::CallAnswer;
pub use contact_acts::{PollRef, Typing, poll_vote};
pub use groups::GroupChange;
pub use link::{LinkError, LinkedDevice};
pub use messaging::{Addressing, SentDocument};
pub use profile::AccountProfile;
/// The kinds of attachment, which key their encryption differently.
pub use wacore::download::MediaType;
/// The protobuf types of what contacts send and phones decrypt.
pub use waproto;
pub use world::{Admin, AppStateMutation, ClientReceipt, ClientSignal, Delivered, Group};

use world::World;

/// A running simulator; stops when dropped.
pub struct Simulator {
    world: Arc<World>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Simulator {
    /// Serves on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::bind("127.0.0.1:0".parse().expect("valid address")).await
    }

    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let world = World::new();
        let _ = world.media.set(media::MediaHost::start().await?);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = http::router(world.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            world,
            addr,
            server,
        })
    }

    /// What a client dials: `ws://127.0.0.1:<port>/ws/chat`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    /// The control API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates the account `phone` with its primary phone (a scan creates one on demand).
    pub async fn add_account(&self, phone: &str, push_name: &str) {
        self.world
            .state
            .lock()
            .await
            .accounts
            .insert(phone.to_string(), world::Account::new(phone, push_name));
    }

    /// The phone scans a QR shown by a client. `phone` picks the account's number (created
    /// on first use); `None` makes up a new one.
    pub async fn scan(&self, qr: &str, phone: Option<&str>) -> Result<LinkedDevice, LinkError> {
        self.world.scan(qr, phone).await
    }

    /// The user types the pairing code a client showed into `phone`'s phone.
    pub async fn enter_code(&self, phone: &str, code: &str) -> Result<(), LinkError> {
        self.world.enter_code(phone, code).await
    }

    /// The phone removes a linked device (Linked devices → Log out).
    pub async fn unlink(&self, phone: &str, device: u16) -> Result<(), LinkError> {
        self.world.unlink(phone, device).await
    }

    /// Adds a contact: a number on WhatsApp with its own phone and keys, optionally a
    /// business with a verified name.
    pub async fn add_contact(&self, phone: &str, push_name: &str, business_name: Option<&str>) {
        self.world
            .add_contact(phone, push_name, business_name)
            .await
    }

    /// Adds a group with `members` (phone numbers and their rights; the first owns it);
    /// returns its JID.
    pub async fn add_group(&self, subject: &str, members: &[(&str, Admin)]) -> String {
        let members: Vec<(String, Admin)> =
            members.iter().map(|(p, a)| (p.to_string(), *a)).collect();
        self.world.add_group(subject, &members).await
    }

    /// Group `jid` as the server holds it now.
    pub async fn group(&self, jid: &str) -> Option<Group> {
        let id = jid.strip_suffix("@g.us").unwrap_or(jid);
        let state = self.world.state.lock().await;
        state.groups.iter().find(|g| g.id == id).cloned()
    }

    /// Contact `phone`'s about text (`None`: none set).
    pub async fn set_about(&self, phone: &str, about: Option<&str>) {
        if let Some(c) = self.world.state.lock().await.contacts.get_mut(phone) {
            c.about = about.map(str::to_string);
        }
    }

    /// Contact `phone` hides their about text and picture from strangers (401 for both).
    pub async fn hide_profile(&self, phone: &str) {
        if let Some(c) = self.world.state.lock().await.contacts.get_mut(phone) {
            c.hides_profile = true;
        }
    }

    /// The LID the simulator gave `phone` (an account's or a contact's), as `digits@lid`.
    pub async fn lid_of(&self, phone: &str) -> Option<String> {
        let state = self.world.state.lock().await;
        state.lid_of(phone).map(|lid| format!("{lid}@lid"))
    }

    /// Contact `from` calls account `to` (`video` for a video call); answers the call id
    /// and how many online devices rang.
    pub async fn call(&self, from: &str, to: &str, video: bool) -> Result<(String, usize), String> {
        self.world.call(from, to, video).await
    }

    /// Account `account`'s phone pushes the LIDs of `contacts` to its companions (WhatsApp's
    /// 1:1 LID migration); answers how many companions got it.
    pub async fn migrate_lids(&self, account: &str, contacts: &[&str]) -> Result<usize, String> {
        self.world.migrate_lids(account, contacts).await
    }

    /// What a companion answered to call `call_id` (a reject), waiting up to `timeout`.
    pub async fn wait_call_answer(&self, timeout: Duration, call_id: &str) -> Option<CallAnswer> {
        self.world.wait_call_answer(timeout, call_id).await
    }

    /// What account `phone` shows of itself (name, about, picture), as its devices set it.
    pub async fn account_profile(&self, phone: &str) -> Option<AccountProfile> {
        let state = self.world.state.lock().await;
        state.accounts.get(phone).map(|a| a.profile.clone())
    }

    /// Whom account `phone` blocks (phones).
    pub async fn blocked_by(&self, phone: &str) -> Vec<String> {
        let state = self.world.state.lock().await;
        state
            .accounts
            .get(phone)
            .map(|a| a.blocked.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Contact `phone` does not let strangers add it to groups (403 on add).
    pub async fn refuse_group_adds(&self, phone: &str) {
        self.world.refuse_group_adds(phone).await
    }

    /// Member `by` changes group `group`, as from their phone: every member account's
    /// devices get the `w:gp2` notification. Answers each number's code (`None` = done),
    /// or the code that refused the whole change.
    pub async fn change_group(
        &self,
        by: &str,
        group: &str,
        change: GroupChange,
    ) -> Result<Vec<(String, Option<u16>)>, u16> {
        self.world.change_group(by, group, change).await
    }

    /// Contact `from` sends a document to account `to` through the media host; returns the
    /// message id and the blob's direct path.
    pub async fn send_document(
        &self,
        from: &str,
        to: &str,
        document: SentDocument,
    ) -> Result<(String, String), String> {
        self.world.send_document(from, to, document).await
    }

    /// What a contact's phone gets from an attachment the client uploaded: the blob at
    /// `direct_path`, its MAC checked and decrypted with the message's `media_key`.
    pub fn download_media(
        &self,
        direct_path: &str,
        media_key: &[u8],
        kind: MediaType,
    ) -> Result<Vec<u8>, String> {
        let media = self
            .world
            .media
            .get()
            .ok_or("the simulator has no media host")?;
        let blob = media
            .blob(direct_path)
            .ok_or_else(|| format!("nothing was uploaded at {direct_path}"))?;
        wacore::download::DownloadUtils::verify_and_decrypt(&blob, media_key, kind)
            .map_err(|e| e.to_string())
    }

    /// What the phone that decrypted `delivered` gets from its attachment: downloaded from
    /// the media host, checked and decrypted.
    pub fn download_attachment(&self, delivered: &Delivered) -> Result<Vec<u8>, String> {
        let (kind, path, key) = delivered
            .attachment()
            .ok_or_else(|| format!("message {} carries no attachment", delivered.id))?;
        self.download_media(&path, &key, kind)
    }

    /// Bytes the media host has served of the blob at `direct_path`.
    pub fn media_served(&self, direct_path: &str) -> u64 {
        self.world.media.get().map_or(0, |m| m.served(direct_path))
    }

    /// Contact `from` sends `text` to account `to`; returns the message id.
    pub async fn send_text(&self, from: &str, to: &str, text: &str) -> Result<String, String> {
        self.world.send_text(from, to, text).await
    }

    /// Contact `from` sends any `message` to account `to` (`kind` is the stanza's `type`:
    /// `text` or `media`), encrypted to each linked device.
    pub async fn send_message(
        &self,
        from: &str,
        to: &str,
        message: &waproto::whatsapp::Message,
        kind: &str,
    ) -> Result<String, String> {
        self.world.send_message(from, to, message, kind).await
    }

    /// [`Self::send_message`] with the sender named as `addressing` says (by LID, with or
    /// without the phone beside it), as WhatsApp does more and more.
    pub async fn send_message_addressed(
        &self,
        from: &str,
        to: &str,
        message: &waproto::whatsapp::Message,
        addressing: Addressing,
    ) -> Result<String, String> {
        self.world
            .send_message_addressed(from, to, message, "text", addressing)
            .await
    }

    /// Contact `from` shows it is typing, recording or stopped in its chat with account
    /// `to`; returns how many online devices were told.
    pub async fn chat_state(&self, from: &str, to: &str, typing: Typing) -> usize {
        self.world.chat_state(from, to, typing).await
    }

    /// Someone types on account `account`'s own phone to contact `to`: each linked device
    /// gets the phone's copy (a `deviceSentMessage`); returns the message id.
    pub async fn phone_sends(
        &self,
        account: &str,
        to: &str,
        message: &waproto::whatsapp::Message,
    ) -> Result<String, String> {
        self.world.phone_sends(account, to, message).await
    }

    /// Member `from` sends `message` to group `group` (the JID [`Simulator::add_group`]
    /// returned), encrypted under its sender key; returns the message id.
    pub async fn send_group_message(
        &self,
        from: &str,
        group: &str,
        message: &waproto::whatsapp::Message,
    ) -> Result<String, String> {
        self.world
            .send_group_message(from, group, message, "text")
            .await
    }

    /// Contact `contact` has read message `id` that account `to` sent it.
    pub async fn read(&self, contact: &str, to: &str, id: &str) -> usize {
        self.world.read(contact, to, id).await
    }

    /// Everything the simulated phones decrypted, oldest first.
    pub async fn delivered(&self) -> Vec<Delivered> {
        self.world.state.lock().await.delivered.clone()
    }

    /// Waits until a simulated phone decrypted a message matching `check`.
    pub async fn wait_delivered(
        &self,
        timeout: Duration,
        check: impl Fn(&Delivered) -> bool,
    ) -> Option<Delivered> {
        self.wait_for(timeout, |state| {
            state.delivered.iter().find(|d| check(d)).cloned()
        })
        .await
    }

    /// Receipts the client sent for messages the phones delivered to it.
    /// The chat states and presences the client sent, oldest first.
    pub async fn client_signals(&self) -> Vec<ClientSignal> {
        self.world.state.lock().await.client_signals.clone()
    }

    /// App-state mutations the companions sent (archive, delete for me...), as the
    /// account's phone decrypted them, oldest first.
    pub async fn app_state_mutations(&self) -> Vec<AppStateMutation> {
        self.world.state.lock().await.app_state_mutations.clone()
    }

    pub async fn client_receipts(&self) -> Vec<ClientReceipt> {
        self.world.state.lock().await.client_receipts.clone()
    }

    pub async fn wait_client_receipt(&self, timeout: Duration, id: &str) -> Option<ClientReceipt> {
        self.wait_for(timeout, |state| {
            state.client_receipts.iter().find(|r| r.id == id).cloned()
        })
        .await
    }

    /// Whether `(phone, device)` is logged in on a live connection.
    pub async fn is_online(&self, phone: &str, device: u16) -> bool {
        self.world
            .state
            .lock()
            .await
            .online
            .contains_key(&(phone.to_string(), device))
    }

    pub async fn wait_online(&self, timeout: Duration, phone: &str, device: u16) -> bool {
        self.wait_for(timeout, |state| {
            state
                .online
                .contains_key(&(phone.to_string(), device))
                .then_some(())
        })
        .await
        .is_some()
    }

    /// Linked companion devices of an account.
    pub async fn linked_devices(&self, phone: &str) -> Vec<u16> {
        self.world
            .state
            .lock()
            .await
            .accounts
            .get(phone)
            .map(|a| {
                a.companions
                    .values()
                    .filter(|c| c.linked)
                    .map(|c| c.device)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Completed handshakes by pattern (`xx`, `ik`, `xx-fallback`).
    pub async fn handshakes(&self) -> HashMap<&'static str, u64> {
        self.world.state.lock().await.handshakes.clone()
    }

    /// Completed handshakes of one pattern.
    pub async fn handshake_count(&self, pattern: &str) -> u64 {
        self.handshakes().await.get(pattern).copied().unwrap_or(0)
    }

    /// The most clients that were logging in at once (socket accepted, login not yet
    /// answered) since the simulator started or [`Self::reset_login_peak`].
    pub fn login_peak(&self) -> usize {
        self.world.logins.peak()
    }

    /// Starts a new login high-water mark (e.g. after linking, before a restart).
    pub fn reset_login_peak(&self) {
        self.world.logins.reset_peak();
    }

    /// Holds every handshake this long, so that logins overlap as on a busy server.
    pub async fn set_handshake_delay(&self, delay: Duration) {
        self.world.set_handshake_delay(delay).await;
    }

    /// Cuts every connection of the account (a network drop).
    pub async fn drop_connections(&self, phone: &str) -> usize {
        self.world.drop_connections(phone).await
    }

    /// Makes WhatsApp unreachable for `duration` (cuts the account's connections and closes
    /// every new socket until then).
    pub async fn go_down(&self, phone: &str, duration: Duration) -> usize {
        self.world.go_down(phone, duration).await
    }

    /// Sends `<stream:error code>` and closes every connection of the account.
    pub async fn stream_error(&self, phone: &str, code: u16) -> usize {
        self.world.stream_error(phone, code).await
    }

    /// Temporarily bans the account.
    pub async fn ban(&self, phone: &str, duration: Duration) -> bool {
        self.world.ban(phone, duration).await
    }

    pub async fn lift_ban(&self, phone: &str) {
        self.world.lift_ban(phone).await
    }

    /// Holds the `<ack>` of every client message this long.
    pub async fn set_ack_delay(&self, delay: Duration) {
        self.world.set_ack_delay(delay).await
    }

    /// Rotates the server's Noise key and refuses resumed handshakes made with the old one.
    pub async fn rotate_server_key(&self) {
        self.world.rotate_identity();
    }

    /// Refuses resumed (IK) handshakes even with the current key.
    pub async fn refuse_resume(&self, refuse: bool) {
        self.world.refuse_resume(refuse).await
    }

    /// Number lookups (usync `<contact>`) are refused with WhatsApp's 429 while on.
    pub async fn throttle_lookups(&self, throttle: bool) {
        self.world.throttle_lookups(throttle).await
    }

    async fn wait_for<T>(
        &self,
        timeout: Duration,
        check: impl Fn(&world::State) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.world.changed.notified();
            if let Some(found) = check(&*self.world.state.lock().await) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return check(&*self.world.state.lock().await);
            }
        }
    }
}
