//! The simulated WhatsApp: accounts with their primary phone and linked companions,
//! contacts, groups, who is online on which connection, and what the phones received.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc};
use wacore_binary::Node;
use wacore_libsignal::protocol::ProtocolAddress;

use crate::appstate::{SyncKey, push_name_patch};
use crate::noise::ServerIdentity;
use crate::signal::{PublishedKeys, SignalDevice};

/// What the connection's writer is asked to do.
pub enum Outbound {
    Node(Node),
    /// Close the WebSocket (after everything queued before it).
    Close,
}

/// One live client connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
}

impl ConnHandle {
    pub fn new(id: u64, tx: mpsc::UnboundedSender<Outbound>) -> Self {
        Self { id, tx }
    }

    pub fn send(&self, node: Node) {
        let _ = self.tx.send(Outbound::Node(node));
    }

    pub fn close(&self) {
        let _ = self.tx.send(Outbound::Close);
    }
}

/// A WhatsApp account: its number, its primary phone (device 0) and its linked companions.
pub struct Account {
    pub phone: String,
    pub lid: String,
    pub primary: SignalDevice,
    /// The app-state key the primary shares with every companion.
    pub sync_key: SyncKey,
    /// Each collection's patches in version order (version = position + 1): the phone's
    /// `critical_block` v1 (the push name, encrypted with `sync_key`), then what the
    /// companions sent.
    pub patches: HashMap<String, Vec<Vec<u8>>>,
    pub companions: BTreeMap<u16, Companion>,
    /// ADV raw id of the account's device list.
    pub adv_raw_id: u32,
    next_device: u16,
    next_key_index: u32,
    /// A temporary ban: logins are refused until then.
    pub banned_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Name, about and picture, as the account's devices last set them.
    pub profile: crate::profile::AccountProfile,
    /// Whom the account blocks (phones), with when.
    pub blocked: BTreeMap<String, i64>,
}

impl Account {
    pub fn new(phone: &str, push_name: &str) -> Self {
        let sync_key = SyncKey::generate();
        Self {
            phone: phone.to_string(),
            lid: random_lid(),
            primary: SignalDevice::generate(),
            patches: HashMap::from([(
                crate::appstate::CRITICAL_BLOCK.to_string(),
                vec![push_name_patch(&sync_key, push_name)],
            )]),
            sync_key,
            companions: BTreeMap::new(),
            adv_raw_id: rand::random::<u32>() >> 1,
            next_device: 1,
            next_key_index: 1,
            banned_until: None,
            profile: crate::profile::AccountProfile {
                push_name: push_name.to_string(),
                about: Some("Hey there! I am using WhatsApp.".into()),
                picture: None,
            },
            blocked: BTreeMap::new(),
        }
    }

    /// Device id and key index for the next companion.
    pub fn allocate_companion(&mut self) -> (u16, u32) {
        let allocated = (self.next_device, self.next_key_index);
        self.next_device += 1;
        self.next_key_index += 1;
        allocated
    }

    pub fn linked_key_indexes(&self) -> Vec<u32> {
        self.companions
            .values()
            .filter(|c| c.linked)
            .map(|c| c.key_index)
            .collect()
    }
}

/// A linked (or linking) companion device: what it registered and what it uploaded.
pub struct Companion {
    pub device: u16,
    pub noise_key: [u8; 32],
    pub keys: PublishedKeys,
    /// Whether it uploaded its pre-keys (until then the server has no digest for it).
    pub keys_uploaded: bool,
    pub key_index: u32,
    /// The ADV identity with the companion's counter-signature (after `pair-device-sign`).
    pub signed_identity: Option<Vec<u8>>,
    pub linked: bool,
    /// Whether the primary already shared its app-state sync key with it.
    pub key_shared: bool,
    /// Stanzas for it that it has not acknowledged yet, by id, oldest first: sent at once
    /// when it is online, and (again) after its next `<active/>` until it acknowledges
    /// them, as WhatsApp's offline queue does.
    pub unacked: Vec<(String, Node)>,
}

/// Someone the account can talk to: a phone with one device and its own Signal keys.
pub struct Contact {
    pub phone: String,
    pub lid: String,
    pub push_name: String,
    pub device: SignalDevice,
    pub business_name: Option<String>,
    /// Their "about" text.
    pub about: Option<String>,
    /// Their privacy settings hide their about text and picture from strangers.
    pub hides_profile: bool,
}

impl Contact {
    pub fn new(phone: &str, push_name: &str) -> Self {
        Self {
            phone: phone.to_string(),
            lid: random_lid(),
            push_name: push_name.to_string(),
            device: SignalDevice::generate(),
            business_name: None,
            about: Some("Hey there! I am using WhatsApp.".into()),
            hides_profile: false,
        }
    }
}

/// A group the account is a member of.
#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub subject: String,
    pub description: Option<String>,
    pub owner: String,
    /// Members by phone number, with admin rights.
    pub members: Vec<(String, Admin)>,
    pub created: i64,
    /// Only admins send.
    pub announce: bool,
    /// Only admins change the subject and description.
    pub locked: bool,
    /// Disappearing-message timer in seconds (0 = off).
    pub ephemeral: u32,
    pub invite: String,
}

impl Group {
    pub fn role_of(&self, phone: &str) -> Option<Admin> {
        self.members
            .iter()
            .find(|(m, _)| m == phone)
            .map(|(_, admin)| *admin)
    }

    /// Gives member `phone` these rights: `None` when done, the per-number code otherwise
    /// (404 not a member, 403 the superadmin's rights are not anyone's to change).
    pub fn set_role(&mut self, phone: &str, rights: Admin) -> Option<u16> {
        match self.members.iter_mut().find(|(m, _)| m == phone) {
            None => Some(404),
            Some((_, Admin::Superadmin)) => Some(403),
            Some(member) => {
                member.1 = rights;
                None
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Admin {
    No,
    Admin,
    Superadmin,
}

/// A message a simulated phone decrypted: proof of what the client really sent.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub id: String,
    /// The sending device (`phone:device@s.whatsapp.net`).
    pub from: String,
    /// Whose phone decrypted it (the contact, or the account's own primary for its copy).
    pub to: String,
    /// The group JID, for a message sent to a group (decrypted with the sender's key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The text, when the message carried one.
    pub text: Option<String>,
    /// The decoded `Message` protobuf, for assertions beyond text.
    #[serde(skip)]
    pub message: waproto::whatsapp::Message,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Delivered {
    /// The attachment the message carries, if any: its kind (which keys its encryption),
    /// direct path and media key.
    pub fn attachment(&self) -> Option<(wacore::download::MediaType, String, Vec<u8>)> {
        use wacore::download::MediaType;
        let m = &self.message;
        let found = |kind, path: &Option<String>, key: &Option<Vec<u8>>| {
            Some((kind, path.clone()?, key.clone()?))
        };
        if let Some(a) = m.image_message.as_option() {
            found(MediaType::Image, &a.direct_path, &a.media_key)
        } else if let Some(a) = m.video_message.as_option() {
            found(MediaType::Video, &a.direct_path, &a.media_key)
        } else if let Some(a) = m.audio_message.as_option() {
            found(MediaType::Audio, &a.direct_path, &a.media_key)
        } else if let Some(a) = m.document_message.as_option() {
            found(MediaType::Document, &a.direct_path, &a.media_key)
        } else {
            None
        }
    }
}

/// An app-state mutation a companion sent (archive a chat, delete a message for me...), as
/// the account's phone decrypts it with the sync key.
#[derive(Clone, Debug)]
pub struct AppStateMutation {
    pub collection: String,
    /// The decoded index, e.g. `["deleteMessageForMe", chat, id, fromMe, participant]`.
    pub index: Vec<String>,
    pub value: Option<waproto::whatsapp::SyncActionValue>,
}

/// A receipt the client sent for a message a contact delivered to it.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientReceipt {
    pub id: String,
    pub to: String,
    /// `delivery` when the stanza had no type; `inactive` is a delivery receipt from a client
    /// that shows itself unavailable; `read`.
    pub kind: String,
}

/// A `<chatstate>` or `<presence>` the client sent.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSignal {
    /// `chatstate` or `presence`.
    pub tag: String,
    /// The chat a chat state is for.
    pub to: Option<String>,
    /// `composing`, `recording`, `paused`; `available`, `unavailable`.
    pub state: String,
}

/// Misbehaviours on demand.
#[derive(Default, Clone)]
pub struct Faults {
    /// Hold every `<ack>` for a client-sent message this long.
    pub ack_delay: Duration,
    /// Hold every handshake this long before the server's hello.
    pub handshake_delay: Duration,
    /// Refuse resumed (IK) handshakes, forcing XX-fallback.
    pub refuse_ik: bool,
    /// Until then the server is unreachable: every new socket is closed at once.
    pub down_until: Option<tokio::time::Instant>,
    /// Usync number lookups answer each `<contact>` with a 429 rate-limit error.
    pub throttle_lookups: bool,
}

/// A QR the client is showing, waiting for a phone to scan it.
pub struct PendingLink {
    pub conn: ConnHandle,
    pub keys: PublishedKeys,
    pub noise_key: [u8; 32],
}

/// A `companion_hello` (link by code) waiting for the user to type the code on `phone`.
pub struct CodeLink {
    pub conn: ConnHandle,
    pub reference: Vec<u8>,
    /// The companion's ephemeral key, encrypted with the code.
    pub wrapped_ephemeral: Vec<u8>,
    /// Once the code was typed: the primary's ephemeral and the companion's, decrypted.
    pub exchange: Option<(wacore_libsignal::protocol::KeyPair, [u8; 32])>,
}

/// A `pair-success` waiting for the client's `pair-device-sign`.
pub struct PendingSign {
    pub conn: ConnHandle,
    pub phone: String,
    pub device: u16,
}

#[derive(Default)]
pub struct State {
    pub accounts: BTreeMap<String, Account>,
    pub contacts: BTreeMap<String, Contact>,
    pub groups: Vec<Group>,
    /// Contacts whose privacy settings refuse being added to groups by strangers.
    pub refuses_group_adds: std::collections::HashSet<String>,
    pub pairing: HashMap<String, PendingLink>,
    pub pending_signs: HashMap<String, PendingSign>,
    /// Devices waiting for their pairing code to be typed on the phone, by phone number.
    pub code_links: HashMap<String, CodeLink>,
    /// Logged-in connections by `(phone, device)`.
    pub online: HashMap<(String, u16), ConnHandle>,
    pub delivered: Vec<Delivered>,
    pub client_receipts: Vec<ClientReceipt>,
    pub client_signals: Vec<ClientSignal>,
    /// What companions answered to calls.
    pub call_answers: Vec<crate::calls::CallAnswer>,
    /// App-state mutations the companions sent, as the account's phone decrypted them.
    pub app_state_mutations: Vec<AppStateMutation>,
    pub faults: Faults,
    /// Numbers handed to accounts created by a scan without a chosen number.
    next_default_phone: u32,
    /// How many handshakes each pattern completed, for tests of the reconnect path.
    pub handshakes: HashMap<&'static str, u64>,
}

impl State {
    pub fn account_mut(&mut self, phone: &str) -> &mut Account {
        self.accounts
            .entry(phone.to_string())
            .or_insert_with(|| Account::new(phone, &format!("Sim {phone}")))
    }

    pub fn default_phone(&mut self) -> String {
        self.next_default_phone += 1;
        format!("1555010{:04}", self.next_default_phone)
    }

    pub fn companion(&self, phone: &str, device: u16) -> Option<&Companion> {
        self.accounts.get(phone)?.companions.get(&device)
    }

    pub fn companion_mut(&mut self, phone: &str, device: u16) -> Option<&mut Companion> {
        self.accounts.get_mut(phone)?.companions.get_mut(&device)
    }

    /// Whose connection a `(phone, device)` is, if online.
    pub fn conn_of(&self, phone: &str, device: u16) -> Option<ConnHandle> {
        self.online.get(&(phone.to_string(), device)).cloned()
    }

    /// The `(phone, device)` logged in on connection `id`.
    pub fn device_on(&self, conn_id: u64) -> Option<(String, u16)> {
        self.online
            .iter()
            .find(|(_, conn)| conn.id == conn_id)
            .map(|(key, _)| key.clone())
    }

    /// The phone number behind a user part that may be a LID.
    pub fn phone_of(&self, user: &str, server: wacore_binary::Server) -> Option<String> {
        if server == wacore_binary::Server::Lid {
            self.accounts
                .values()
                .map(|a| (&a.phone, &a.lid))
                .chain(self.contacts.values().map(|c| (&c.phone, &c.lid)))
                .find(|(_, lid)| lid.as_str() == user)
                .map(|(phone, _)| phone.clone())
        } else {
            Some(user.to_string())
        }
    }

    pub fn lid_of(&self, phone: &str) -> Option<String> {
        self.accounts
            .get(phone)
            .map(|a| a.lid.clone())
            .or_else(|| self.contacts.get(phone).map(|c| c.lid.clone()))
    }
}

pub struct World {
    identity: std::sync::RwLock<Arc<ServerIdentity>>,
    pub state: Mutex<State>,
    /// Woken on every change a test may be waiting for.
    pub changed: Notify,
    next_conn: AtomicU64,
    /// The media CDN, once the simulator serves.
    pub media: std::sync::OnceLock<crate::media::MediaHost>,
    /// Clients between their socket's accept and the answer to their login.
    pub logins: crate::logins::LoginGauge,
}

impl World {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            identity: std::sync::RwLock::new(Arc::new(ServerIdentity::generate())),
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            next_conn: AtomicU64::new(1),
            media: std::sync::OnceLock::new(),
            logins: Default::default(),
        })
    }

    pub fn identity(&self) -> Arc<ServerIdentity> {
        self.identity
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A new Noise static key: clients holding the old one must fall back to XX.
    pub fn rotate_identity(&self) {
        *self.identity.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(ServerIdentity::generate());
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn notify(&self) {
        self.changed.notify_waiters();
    }
}

/// The Signal address a simulated device uses for a peer device.
pub fn address(user: &str, device: u16) -> ProtocolAddress {
    ProtocolAddress::new(user, u32::from(device).into())
}

fn random_lid() -> String {
    format!("1{:014}", rand::random::<u64>() % 100_000_000_000_000)
}
