//! The life of a companion: QR refs for a new device, the phone's scan, the device's
//! counter-signature, logins, and the phone removing it again.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node};
use waproto::whatsapp as wa;

use crate::nodes::{attr, bytes, child, new_id, now_secs, server_jid};
use crate::pairing::{self, PairingError, QrCode};
use crate::world::{Companion, ConnHandle, PendingLink, PendingSign, State, World};

/// How many QR refs a new device gets per connection (WhatsApp sends six).
const REFS_PER_CONNECTION: usize = 6;

/// The result of a scan: which account and device the client became.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedDevice {
    pub phone: String,
    pub device: u16,
    pub lid: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Pairing(#[from] PairingError),
    #[error("no connected client is showing QR ref {0}")]
    UnknownRef(String),
    #[error("the QR's keys are not the ones the client registered with")]
    KeyMismatch,
    #[error("no account {0}")]
    NoAccount(String),
    #[error("account {0} has no companion device {1}")]
    NoDevice(String, u16),
    #[error("no device asked to link to {0} by code")]
    NoCodeRequest(String),
    #[error("not a pairing code: {0}")]
    BadCode(String),
}

impl World {
    /// A device without an identity connected: hand it QR refs and wait for a scan.
    pub async fn begin_pairing(
        &self,
        conn: &ConnHandle,
        registration: &wa::client_payload::DevicePairingRegistrationData,
        noise_key: [u8; 32],
    ) -> Result<(), PairingError> {
        let keys = pairing::registration_keys(registration)?;
        let refs: Vec<String> = (0..REFS_PER_CONNECTION)
            .map(|_| format!("2@{}", BASE64_STANDARD.encode(rand::random::<[u8; 24]>())))
            .collect();
        {
            let mut state = self.state.lock().await;
            for reference in &refs {
                state.pairing.insert(
                    reference.clone(),
                    PendingLink {
                        conn: conn.clone(),
                        keys: keys.clone(),
                        noise_key,
                    },
                );
            }
        }
        conn.send(
            NodeBuilder::new("iq")
                .attr("from", server_jid())
                .attr("id", new_id())
                .attr("type", "set")
                .attr("xmlns", "md")
                .children([NodeBuilder::new("pair-device")
                    .children(
                        refs.into_iter()
                            .map(|r| NodeBuilder::new("ref").bytes(r.into_bytes()).build()),
                    )
                    .build()])
                .build(),
        );
        Ok(())
    }

    /// The phone scans `qr`: the account (`phone`, or a new number) signs the device in.
    pub async fn scan(&self, qr: &str, phone: Option<&str>) -> Result<LinkedDevice, LinkError> {
        let qr = QrCode::parse(qr)?;
        let mut state = self.state.lock().await;
        let pending = state
            .pairing
            .get(&qr.reference)
            .ok_or_else(|| LinkError::UnknownRef(qr.reference.clone()))?;
        if pending.noise_key != qr.noise_key || pending.keys.identity != qr.identity_key {
            return Err(LinkError::KeyMismatch);
        }
        let conn = pending.conn.clone();
        let phone = match phone {
            Some(p) => p.to_string(),
            None => state.default_phone(),
        };
        issue_pair_success(&mut state, &conn, &phone, &qr.adv_secret)
            .ok_or(LinkError::UnknownRef(qr.reference))
    }

    /// The client answered one of our IQs (`pair-device` acks, `pair-device-sign`).
    pub async fn on_iq_answer(&self, node: &Node) {
        let Some(id) = attr(node, "id") else { return };
        let mut state = self.state.lock().await;
        let Some(sign) = state.pending_signs.remove(&id) else {
            return;
        };
        let signed = child(node, "pair-device-sign")
            .and_then(|n| child(n, "device-identity"))
            .and_then(bytes)
            .map(<[u8]>::to_vec);
        let Some(account) = state.accounts.get_mut(&sign.phone) else {
            return;
        };
        let verdict = match (&signed, account.companions.get(&sign.device)) {
            (Some(signed), Some(companion)) => pairing::verify_device_signature(
                signed,
                &companion.keys.identity,
                account.primary.identity_key_pair(),
            )
            .map_err(|e| e.to_string()),
            _ => Err(format!(
                "pairing refused by the client: {}",
                crate::wire::xml(node)
            )),
        };
        match verdict {
            Ok((_, key_index)) => {
                let companion = account
                    .companions
                    .get_mut(&sign.device)
                    .expect("checked above");
                debug_assert_eq!(companion.key_index, key_index);
                companion.signed_identity = signed;
                companion.linked = true;
                drop(state);
                // WhatsApp closes the registration stream; the device logs in anew.
                sign.conn
                    .send(NodeBuilder::new("stream:error").attr("code", "515").build());
                sign.conn.close();
                self.notify();
            }
            Err(e) => {
                tracing::warn!("pairing of {}:{} failed: {e}", sign.phone, sign.device);
                account.companions.remove(&sign.device);
            }
        }
    }

    /// A registered device logs in (`username`/`device` of its payload).
    pub async fn login(&self, conn: &ConnHandle, phone: &str, device: u16, noise_key: [u8; 32]) {
        let mut state = self.state.lock().await;
        let Some(account) = state.accounts.get(phone) else {
            return refuse(conn, 401);
        };
        match account.companions.get(&device) {
            Some(c) if c.linked && c.noise_key == noise_key => {}
            _ => return refuse(conn, 401),
        }
        if let Some(until) = account.banned_until
            && until > chrono::Utc::now()
        {
            let expire = (until - chrono::Utc::now()).num_seconds().max(1);
            conn.send(
                NodeBuilder::new("failure")
                    .attr("reason", "402")
                    .attr("code", "101")
                    .attr("expire", expire.to_string())
                    .build(),
            );
            conn.close();
            return;
        }
        let lid = account.lid.clone();
        if let Some(previous) = state
            .online
            .insert((phone.to_string(), device), conn.clone())
        {
            previous.send(
                NodeBuilder::new("stream:error")
                    .children([NodeBuilder::new("conflict")
                        .attr("type", "replaced")
                        .build()])
                    .build(),
            );
            previous.close();
        }
        drop(state);
        conn.send(
            NodeBuilder::new("success")
                .attr("t", now_secs().to_string())
                .attr("lid", Jid::lid(lid.as_str()))
                .attr("location", "sim")
                .attr("creation", now_secs().to_string())
                .build(),
        );
        self.notify();
    }

    pub async fn disconnected(&self, conn_id: u64) {
        let mut state = self.state.lock().await;
        state.online.retain(|_, c| c.id != conn_id);
        state.pairing.retain(|_, p| p.conn.id != conn_id);
        state.pending_signs.retain(|_, p| p.conn.id != conn_id);
        state.code_links.retain(|_, c| c.conn.id != conn_id);
        drop(state);
        self.notify();
    }

    /// The phone removes a linked device (Linked devices → Log out).
    pub async fn unlink(&self, phone: &str, device: u16) -> Result<(), LinkError> {
        let mut state = self.state.lock().await;
        let account = state
            .accounts
            .get_mut(phone)
            .ok_or_else(|| LinkError::NoAccount(phone.to_string()))?;
        account
            .companions
            .remove(&device)
            .ok_or_else(|| LinkError::NoDevice(phone.to_string(), device))?;
        if let Some(conn) = state.online.remove(&(phone.to_string(), device)) {
            conn.send(
                NodeBuilder::new("stream:error")
                    .children([NodeBuilder::new("conflict")
                        .attr("type", "device_removed")
                        .build()])
                    .build(),
            );
            conn.close();
        }
        Ok(())
    }

    /// The companion logs itself out (`remove-companion-device`).
    pub async fn remove_companion(&self, phone: &str, device: u16) {
        let mut state = self.state.lock().await;
        if let Some(account) = state.accounts.get_mut(phone) {
            account.companions.remove(&device);
        }
    }
}

/// The phone signs the device on `conn` into account `phone` (QR or code, whichever gave
/// the ADV secret): `pair-success`, then wait for its `pair-device-sign`. `None` when the
/// connection is no longer waiting to be linked.
pub(crate) fn issue_pair_success(
    state: &mut State,
    conn: &ConnHandle,
    phone: &str,
    adv_secret: &[u8; 32],
) -> Option<LinkedDevice> {
    let pending = state.pairing.values().find(|p| p.conn.id == conn.id)?;
    let keys = pending.keys.clone();
    let noise_key = pending.noise_key;
    state.pairing.retain(|_, p| p.conn.id != conn.id);
    state.code_links.retain(|_, c| c.conn.id != conn.id);
    let account = state.account_mut(phone);
    let (device, key_index) = account.allocate_companion();
    let identity = pairing::device_identity_for_pairing(
        account.primary.identity_key_pair(),
        account.adv_raw_id,
        key_index,
        &keys.identity,
        adv_secret,
    );
    account.companions.insert(
        device,
        Companion {
            device,
            noise_key,
            keys,
            keys_uploaded: false,
            key_index,
            signed_identity: None,
            linked: false,
            key_shared: false,
            unacked: Vec::new(),
        },
    );
    let lid = account.lid.clone();
    let iq_id = new_id();
    state.pending_signs.insert(
        iq_id.clone(),
        PendingSign {
            conn: conn.clone(),
            phone: phone.to_string(),
            device,
        },
    );
    conn.send(
        NodeBuilder::new("iq")
            .attr("from", server_jid())
            .attr("id", iq_id)
            .attr("type", "set")
            .attr("t", now_secs().to_string())
            .children([NodeBuilder::new("pair-success")
                .children([
                    NodeBuilder::new("device-identity").bytes(identity).build(),
                    NodeBuilder::new("platform").attr("name", "android").build(),
                    NodeBuilder::new("device")
                        .attr("jid", Jid::pn_device(phone, device))
                        .attr("lid", Jid::lid_device(lid.as_str(), device))
                        .build(),
                ])
                .build()])
            .build(),
    );
    Some(LinkedDevice {
        phone: phone.to_string(),
        device,
        lid,
    })
}

/// `<failure reason>` and close: the credentials are no good.
fn refuse(conn: &ConnHandle, reason: u16) {
    conn.send(
        NodeBuilder::new("failure")
            .attr("reason", reason.to_string())
            .attr("location", "sim")
            .build(),
    );
    conn.close();
}
