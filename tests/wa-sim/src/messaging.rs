//! Messages both ways. Client → phones: every `<enc>` addressed to a simulated device is
//! decrypted with that device's Signal state and recorded, then acked and receipted.
//! Phones → client: a contact (or the account's own primary) encrypts to each linked
//! companion and the stanza goes out at once, or after the device's next `<active/>`.

use std::sync::Arc;

use wacore::messages::MessageUtils;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node};
use waproto::buffa::MessageField;
use waproto::whatsapp as wa;

use crate::media::Blob;
use crate::nodes::{attr, bytes, child, children, jid_attr, new_id, now_secs};
use crate::signal::SignalDevice;
use crate::world::{ClientReceipt, ConnHandle, Delivered, State, World, address};

/// How a contact's message names its sender, as WhatsApp does during its move to LIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `from` is the phone JID (the classic form).
    Phone,
    /// `from` is the phone JID, and `sender_lid` tells the LID.
    PhoneWithLid,
    /// `from` is the LID and nothing says the phone.
    Lid,
    /// `from` is the LID, and `sender_pn` tells the phone.
    LidWithPhone,
}

/// A document a contact sends: the blob the media host serves and what the message says
/// about it. [`SentDocument::encrypt`] makes an honest one.
pub struct SentDocument {
    pub blob: Blob,
    pub media_key: [u8; 32],
    pub file_sha256: [u8; 32],
    pub file_enc_sha256: [u8; 32],
    pub declared_len: u64,
    pub mime_type: String,
    pub file_name: String,
    /// Which message carries it (a document, an image, a video, audio), which also keys
    /// its encryption.
    pub kind: wacore::download::MediaType,
}

impl SentDocument {
    /// `plaintext` encrypted as a phone uploads a document (wacore's own media encryption).
    pub fn encrypt(plaintext: &[u8], mime_type: &str, file_name: &str) -> Self {
        Self::encrypt_as(
            wacore::download::MediaType::Document,
            plaintext,
            mime_type,
            file_name,
        )
    }

    /// `plaintext` encrypted as a phone uploads an attachment of `kind`.
    pub fn encrypt_as(
        kind: wacore::download::MediaType,
        plaintext: &[u8],
        mime_type: &str,
        file_name: &str,
    ) -> Self {
        let encrypted = wacore::upload::encrypt_media(plaintext, kind).expect("media encryption");
        Self {
            kind,
            blob: Blob::Bytes(encrypted.data_to_upload.into()),
            media_key: encrypted.media_key,
            file_sha256: encrypted.file_sha256,
            file_enc_sha256: encrypted.file_enc_sha256,
            declared_len: plaintext.len() as u64,
            mime_type: mime_type.into(),
            file_name: file_name.into(),
        }
    }

    /// A hostile sender: the message declares `declared_len` bytes, the host streams
    /// `served_len` bytes of filler.
    pub fn lying(declared_len: u64, served_len: u64) -> Self {
        Self {
            blob: Blob::Filler { len: served_len },
            media_key: [7; 32],
            file_sha256: [1; 32],
            file_enc_sha256: [2; 32],
            declared_len,
            mime_type: "application/pdf".into(),
            file_name: "invoice.pdf".into(),
            kind: wacore::download::MediaType::Document,
        }
    }
}

/// Padding version of `<enc v="2">` payloads.
const PADDING_V2: u8 = 2;

impl World {
    /// A `<message>` from a logged-in client.
    pub async fn on_message(self: &Arc<Self>, conn: &ConnHandle, node: &Node) {
        let (Some(id), Some(to)) = (attr(node, "id"), jid_attr(node, "to")) else {
            return;
        };
        let mut state = self.state.lock().await;
        let Some((phone, device)) = state.device_on(conn.id) else {
            return;
        };
        // Either one `<enc>` for a device JID, or a fan-out of `<participants><to jid>`.
        let mut targets: Vec<(Jid, &Node)> = Vec::new();
        if let Some(participants) = child(node, "participants") {
            for to_node in children(participants, "to") {
                if let (Some(jid), Some(enc)) = (jid_attr(to_node, "jid"), child(to_node, "enc")) {
                    targets.push((jid, enc));
                }
            }
        } else if let Some(enc) = child(node, "enc") {
            targets.push((to.clone(), enc));
        }
        let sender = address(&phone, device);
        let group = to.to_string();
        let is_group = group.ends_with("@g.us");
        let mut contact_recipients = Vec::new();
        let mut group_recipients = Vec::new();
        // The companion asked its own primary for app-state keys it is missing.
        let mut key_request = false;
        for (target, enc) in targets {
            let Some(target_phone) = state.phone_of(&target.user, target.server) else {
                continue;
            };
            let Some(simulated) = simulated_device(&mut state, &target_phone, target.device) else {
                continue;
            };
            let kind = attr(enc, "type").unwrap_or_default();
            let ciphertext = bytes(enc).unwrap_or_default().to_vec();
            let message = match simulated.decrypt(&sender, &kind, &ciphertext).await {
                Ok(padded) => match wacore::messages::decode_plaintext(&padded, PADDING_V2) {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!("{target}: undecodable plaintext: {e}");
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!("{target} cannot decrypt {id} from {sender}: {e}");
                    continue;
                }
            };
            // A group send hands each member the sender's key first (pairwise encrypted).
            if is_group
                && let Some(distribution) = message
                    .sender_key_distribution_message
                    .as_option()
                    .and_then(|d| d.axolotl_sender_key_distribution_message.as_deref())
                && let Err(e) = simulated
                    .accept_sender_key(&group, &sender, distribution)
                    .await
            {
                tracing::warn!("{target} refuses the sender key of {sender}: {e}");
            }
            if only_key_distribution(&message) {
                continue;
            }
            let inner = wacore::messages::unwrap_device_sent(message.clone());
            state.delivered.push(Delivered {
                id: id.clone(),
                from: Jid::pn_device(phone.as_str(), device).to_string(),
                to: target_phone.clone(),
                group: None,
                text: message_text(&inner),
                message,
                at: chrono::Utc::now(),
            });
            if target_phone != phone {
                contact_recipients.push(target_phone.clone());
            } else if asks_for_app_state_keys(&inner) {
                key_request = true;
            }
        }
        // The group message itself: one `<enc type="skmsg">` every member opens with the
        // sender's key.
        if is_group
            && let Some(enc) =
                child(node, "enc").filter(|e| attr(e, "type").as_deref() == Some("skmsg"))
        {
            let ciphertext = bytes(enc).unwrap_or_default().to_vec();
            let members: Vec<String> = state
                .groups
                .iter()
                .find(|g| g.id == to.user.as_str())
                .map(|g| g.members.iter().map(|(m, _)| m.clone()).collect())
                .unwrap_or_default();
            for member in members {
                let Some(simulated) = simulated_device(&mut state, &member, 0) else {
                    continue;
                };
                let message = match simulated.group_decrypt(&group, &sender, &ciphertext).await {
                    Ok(padded) => wacore::messages::decode_plaintext(&padded, PADDING_V2),
                    Err(e) => {
                        tracing::warn!("{member} cannot decrypt group message {id}: {e}");
                        continue;
                    }
                };
                let Ok(message) = message else {
                    tracing::warn!("{member}: undecodable group plaintext");
                    continue;
                };
                state.delivered.push(Delivered {
                    id: id.clone(),
                    from: Jid::pn_device(phone.as_str(), device).to_string(),
                    to: member.clone(),
                    group: Some(group.clone()),
                    text: message_text(&message),
                    message,
                    at: chrono::Utc::now(),
                });
                if member != phone {
                    group_recipients.push(member);
                }
            }
        }
        let ack_delay = state.faults.ack_delay;
        drop(state);
        self.notify();
        if key_request {
            // The phone answers a key request with a key share, as it does at linking.
            self.share_app_state_key(&phone, device).await;
        }

        // The server's ack, then (as the recipient's phone gets it) the delivery receipt.
        let conn = conn.clone();
        let chat = to.to_non_ad();
        tokio::spawn(async move {
            if !ack_delay.is_zero() {
                tokio::time::sleep(ack_delay).await;
            }
            conn.send(
                NodeBuilder::new("ack")
                    .attr("class", "message")
                    .attr("id", id.as_str())
                    .attr("from", chat.clone())
                    .attr("t", now_secs().to_string())
                    .build(),
            );
            contact_recipients.dedup();
            for contact in contact_recipients {
                conn.send(receipt(&id, &contact, None));
            }
            for member in group_recipients {
                conn.send(group_receipt(&id, &chat, &member));
            }
        });
    }

    /// A receipt from the client for something a phone sent it (one id, or several when the
    /// client aggregates the receipts of an offline backlog in a `<list>`).
    pub async fn on_receipt(&self, conn: &ConnHandle, node: &Node) {
        let (Some(id), Some(to)) = (attr(node, "id"), attr(node, "to")) else {
            return;
        };
        let kind = attr(node, "type").unwrap_or_else(|| "delivery".into());
        let mut ids = vec![id.clone()];
        if let Some(list) = child(node, "list") {
            ids.extend(children(list, "item").filter_map(|item| attr(item, "id")));
        }
        for id in &ids {
            self.acknowledged(conn, id).await;
        }
        conn.send(
            NodeBuilder::new("ack")
                .attr("class", "receipt")
                .attr("id", id.as_str())
                .attr("from", to.as_str())
                .build(),
        );
        let mut state = self.state.lock().await;
        for id in ids {
            state.client_receipts.push(ClientReceipt {
                id,
                to: to.clone(),
                kind: kind.clone(),
            });
        }
        drop(state);
        self.notify();
    }

    /// The client acknowledged stanza `id` (by `<receipt>` or `<ack>`): stop redelivering it.
    pub async fn acknowledged(&self, conn: &ConnHandle, id: &str) {
        let mut state = self.state.lock().await;
        let Some((phone, device)) = state.device_on(conn.id) else {
            return;
        };
        if let Some(companion) = state.companion_mut(&phone, device) {
            companion.unacked.retain(|(pending, _)| pending != id);
        }
    }

    /// The client went `<active/>`: (re)send what it has not acknowledged, then say the
    /// offline queue is done. A companion's first time online after linking also gets the
    /// primary's app-state key.
    pub async fn went_active(&self, conn: &ConnHandle, phone: &str, device: u16) {
        let (queued, first_time) = {
            let mut state = self.state.lock().await;
            let Some(companion) = state.companion_mut(phone, device) else {
                return;
            };
            let queued: Vec<Node> = companion.unacked.iter().map(|(_, n)| n.clone()).collect();
            (queued, !std::mem::replace(&mut companion.key_shared, true))
        };
        let mut count = queued.len();
        for node in queued {
            conn.send(node);
        }
        if first_time {
            self.share_app_state_key(phone, device).await;
            count += 1;
        }
        conn.send(
            NodeBuilder::new("ib")
                .children([NodeBuilder::new("offline")
                    .attr("count", count.to_string())
                    .build()])
                .build(),
        );
    }

    /// Contact `from` sends `text` to account `to`: one encrypted copy per linked device.
    pub async fn send_text(&self, from: &str, to: &str, text: &str) -> Result<String, String> {
        let message = wa::Message {
            conversation: Some(text.to_string()),
            ..Default::default()
        };
        self.send_message(from, to, &message, "text").await
    }

    /// Contact `from` sends an attachment (a document, or the image, video or voice note
    /// its `kind` says) to account `to`: the blob goes onto the media host and the message
    /// names it, as a phone's upload does. `declared_len` is what the
    /// message claims the file's size is (a hostile sender lies). Returns the message id and
    /// the blob's direct path.
    pub async fn send_document(
        &self,
        from: &str,
        to: &str,
        document: SentDocument,
    ) -> Result<(String, String), String> {
        use wacore::download::MediaType;
        let media = self.media.get().ok_or("the simulator has no media host")?;
        let direct_path = media.put(document.blob);
        let url = Some(format!("https://{}{direct_path}", media.hostname()));
        let (mime, stamp) = (Some(document.mime_type), Some(now_secs()));
        // The fields every kind of attachment message shares, plus the kind's own.
        macro_rules! attachment {
            ($kind:ident { $($field:ident: $value:expr),* }) => {
                MessageField::some(wa::message::$kind {
                    url,
                    direct_path: Some(direct_path.clone()),
                    mimetype: mime,
                    file_length: Some(document.declared_len),
                    media_key: Some(document.media_key.to_vec()),
                    file_sha256: Some(document.file_sha256.to_vec()),
                    file_enc_sha256: Some(document.file_enc_sha256.to_vec()),
                    media_key_timestamp: stamp,
                    $($field: $value,)*
                    ..Default::default()
                })
            };
        }
        let mut message = wa::Message::default();
        match document.kind {
            MediaType::Image => message.image_message = attachment!(ImageMessage {}),
            MediaType::Video => message.video_message = attachment!(VideoMessage {}),
            MediaType::Audio => {
                message.audio_message = attachment!(AudioMessage { ptt: Some(true) })
            }
            _ => {
                message.document_message = attachment!(DocumentMessage {
                    file_name: Some(document.file_name)
                })
            }
        }
        let id = self.send_message(from, to, &message, "media").await?;
        Ok((id, direct_path))
    }

    /// Contact `from` sends `message` to account `to`: one encrypted copy per linked device.
    pub async fn send_message(
        &self,
        from: &str,
        to: &str,
        message: &wa::Message,
        kind: &str,
    ) -> Result<String, String> {
        self.send_message_addressed(from, to, message, kind, Addressing::Phone)
            .await
    }

    /// [`Self::send_message`] with the sender named the way `addressing` says: WhatsApp
    /// addresses more and more chats by LID, naming the phone beside it only sometimes.
    pub async fn send_message_addressed(
        &self,
        from: &str,
        to: &str,
        message: &wa::Message,
        kind: &str,
        addressing: Addressing,
    ) -> Result<String, String> {
        let mut state = self.state.lock().await;
        let (push_name, lid) = state
            .contacts
            .get(from)
            .map(|c| (c.push_name.clone(), Jid::lid(c.lid.as_str())))
            .ok_or_else(|| format!("{from} is not a simulated contact"))?;
        let (sender, alt) = match addressing {
            Addressing::Phone => (Jid::pn(from), None),
            Addressing::PhoneWithLid => (Jid::pn(from), Some(("sender_lid", lid))),
            Addressing::Lid => (lid, None),
            Addressing::LidWithPhone => (lid, Some(("sender_pn", Jid::pn(from)))),
        };
        let id = new_id();
        let sent = encrypt_to_companions(&mut state, from, to, message, |enc| {
            let node = NodeBuilder::new("message").attr("from", sender.clone());
            let node = match &alt {
                Some((name, jid)) => node.attr(name, jid.clone()),
                None => node,
            };
            node.attr("id", id.as_str())
                .attr("t", now_secs().to_string())
                .attr("type", kind)
                .attr("notify", push_name.as_str())
                .children([enc])
                .build()
        })
        .await?;
        drop(state);
        if sent == 0 {
            return Err(format!("{to} has no linked device"));
        }
        Ok(id)
    }

    /// The account's own phone sends `message` to contact `to` (someone typing on the
    /// phone): the phone copies it to each linked companion as a `deviceSentMessage`, from
    /// the account's own JID with `recipient` naming the chat, as WhatsApp syncs a
    /// conversation across devices. Returns the message id.
    pub async fn phone_sends(
        &self,
        account: &str,
        to: &str,
        message: &wa::Message,
    ) -> Result<String, String> {
        let copy = wa::Message {
            device_sent_message: MessageField::some(wa::message::DeviceSentMessage {
                destination_jid: Some(Jid::pn(to).to_string()),
                message: MessageField::some(message.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut state = self.state.lock().await;
        let id = new_id();
        let sent = encrypt_to_companions(&mut state, account, account, &copy, |enc| {
            NodeBuilder::new("message")
                .attr("from", Jid::pn(account))
                .attr("recipient", Jid::pn(to))
                .attr("id", id.as_str())
                .attr("t", now_secs().to_string())
                .attr("type", "text")
                .children([enc])
                .build()
        })
        .await?;
        drop(state);
        if sent == 0 {
            return Err(format!("{account} has no linked device"));
        }
        Ok(id)
    }

    /// Member `from` sends `message` to group `group` (its JID): every linked device of every
    /// account in the group gets the member's sender key (pairwise encrypted) and the message
    /// encrypted once under it (`skmsg`), in one stanza, as WhatsApp fans a group message out.
    pub async fn send_group_message(
        &self,
        from: &str,
        group: &str,
        message: &wa::Message,
        kind: &str,
    ) -> Result<String, String> {
        let group_id = group.strip_suffix("@g.us").unwrap_or(group);
        let mut state = self.state.lock().await;
        let push_name = state
            .contacts
            .get(from)
            .map(|c| c.push_name.clone())
            .ok_or_else(|| format!("{from} is not a simulated contact"))?;
        let members: Vec<String> = state
            .groups
            .iter()
            .find(|g| g.id == group_id)
            .ok_or_else(|| format!("{group_id} is not a simulated group"))?
            .members
            .iter()
            .map(|(m, _)| m.clone())
            .collect();
        if !members.iter().any(|m| m == from) {
            return Err(format!("{from} is not a member of {group_id}"));
        }
        let group = format!("{group_id}@g.us");
        let sender = simulated_device(&mut state, from, 0).expect("contacts are simulated");
        let (distribution, skmsg) = sender
            .group_encrypt(
                &group,
                &address(from, 0),
                &MessageUtils::encode_and_pad(message),
            )
            .await
            .map_err(|e| e.to_string())?;
        let key_share = wa::Message {
            sender_key_distribution_message: MessageField::some(
                wa::message::SenderKeyDistributionMessage {
                    group_id: Some(group.clone()),
                    axolotl_sender_key_distribution_message: Some(distribution),
                },
            ),
            ..Default::default()
        };
        let id = new_id();
        let mut sent = 0;
        let accounts: Vec<String> = members
            .into_iter()
            .filter(|m| state.accounts.contains_key(m))
            .collect();
        for account in &accounts {
            let devices: Vec<u16> = state.accounts[account]
                .companions
                .values()
                .filter(|c| c.linked)
                .map(|c| c.device)
                .collect();
            for device in devices {
                let (enc, conn) =
                    encrypt_to_device(&mut state, from, account, device, &key_share).await?;
                let node = NodeBuilder::new("message")
                    .attr("from", group.as_str())
                    .attr("participant", Jid::pn(from))
                    .attr("id", id.as_str())
                    .attr("t", now_secs().to_string())
                    .attr("type", kind)
                    .attr("notify", push_name.as_str())
                    .children([
                        enc,
                        NodeBuilder::new("enc")
                            .attr("v", "2")
                            .attr("type", "skmsg")
                            .bytes(skmsg.clone())
                            .build(),
                    ])
                    .build();
                deliver(&mut state, account, device, conn, node);
                sent += 1;
            }
        }
        drop(state);
        if sent == 0 {
            return Err(format!("no account in {group_id} has a linked device"));
        }
        Ok(id)
    }

    /// The account's primary shares an app-state sync key with a new companion, as phones do
    /// right after linking (without it the client waits for the key before going online).
    /// The account's phone tells its companions the LIDs of `contacts`, as WhatsApp's 1:1
    /// LID migration does: a `lidMigrationMappingSyncMessage` peer message, which only the
    /// account's own devices may send. Returns how many companions got it.
    pub async fn migrate_lids(&self, account: &str, contacts: &[&str]) -> Result<usize, String> {
        use waproto::buffa::Message as _;
        let mut state = self.state.lock().await;
        let mut mappings = Vec::new();
        for phone in contacts {
            let lid = state
                .lid_of(phone)
                .ok_or_else(|| format!("{phone} is not simulated"))?;
            mappings.push(wa::LIDMigrationMapping {
                pn: phone
                    .parse()
                    .map_err(|_| format!("{phone} is not digits"))?,
                assigned_lid: lid.parse().map_err(|_| format!("{lid} is not digits"))?,
                ..Default::default()
            });
        }
        let payload = wa::LIDMigrationMappingSyncPayload {
            pn_to_lid_mappings: mappings,
            ..Default::default()
        }
        .encode_to_vec();
        let message = wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::LID_MIGRATION_MAPPING_SYNC),
                lid_migration_mapping_sync_message: MessageField::some(
                    wa::LIDMigrationMappingSyncMessage {
                        encoded_mapping_payload: Some(payload),
                    },
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = new_id();
        encrypt_to_companions(&mut state, account, account, &message, |enc| {
            NodeBuilder::new("message")
                .attr("from", Jid::pn(account))
                .attr("id", id.as_str())
                .attr("t", now_secs().to_string())
                .attr("type", "text")
                .attr("category", "peer")
                .children([enc])
                .build()
        })
        .await
    }

    pub async fn share_app_state_key(&self, phone: &str, device: u16) {
        let mut state = self.state.lock().await;
        let Some(sync_key) = state.accounts.get(phone).map(|a| a.sync_key.clone()) else {
            return;
        };
        let key = wa::message::AppStateSyncKey {
            key_id: waproto::buffa::MessageField::some(wa::message::AppStateSyncKeyId {
                key_id: Some(sync_key.id.clone()),
            }),
            key_data: waproto::buffa::MessageField::some(wa::message::AppStateSyncKeyData {
                key_data: Some(sync_key.data.to_vec()),
                fingerprint: waproto::buffa::MessageField::some(
                    wa::message::AppStateSyncKeyFingerprint {
                        raw_id: Some(rand::random()),
                        current_index: Some(0),
                        device_indexes: vec![0],
                    },
                ),
                timestamp: Some(sync_key.created_ms),
            }),
        };
        let message = wa::Message {
            protocol_message: waproto::buffa::MessageField::some(wa::message::ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::APP_STATE_SYNC_KEY_SHARE),
                app_state_sync_key_share: waproto::buffa::MessageField::some(
                    wa::message::AppStateSyncKeyShare { keys: vec![key] },
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = new_id();
        let result = encrypt_to_device(&mut state, phone, phone, device, &message).await;
        match result {
            Ok((enc, conn)) => {
                let node = NodeBuilder::new("message")
                    .attr("from", Jid::pn(phone))
                    .attr("id", id.as_str())
                    .attr("t", now_secs().to_string())
                    .attr("type", "text")
                    .attr("category", "peer")
                    .children([enc])
                    .build();
                deliver(&mut state, phone, device, conn, node);
            }
            Err(e) => tracing::warn!("cannot share the app-state key with {phone}:{device}: {e}"),
        }
    }
}

/// The simulated Signal device behind `(phone, device)`: a contact's phone or an account's
/// primary. Linked companions are real clients, not simulated.
fn simulated_device<'a>(
    state: &'a mut State,
    phone: &str,
    device: u16,
) -> Option<&'a mut SignalDevice> {
    if device != 0 {
        return None;
    }
    if let Some(account) = state.accounts.get_mut(phone) {
        return Some(&mut account.primary);
    }
    state.contacts.get_mut(phone).map(|c| &mut c.device)
}

/// Encrypts `message` from simulated `(from, 0)` to every linked companion of `to` and
/// delivers each stanza `build` makes of the `<enc>`; returns how many went out.
async fn encrypt_to_companions(
    state: &mut State,
    from: &str,
    to: &str,
    message: &wa::Message,
    build: impl Fn(Node) -> Node,
) -> Result<usize, String> {
    if state
        .accounts
        .get(to)
        .is_some_and(|a| a.blocked.contains_key(from))
    {
        // WhatsApp keeps what a blocked person sends: it never reaches the account.
        return Err(format!("{to} blocks {from}"));
    }
    let devices: Vec<u16> = state
        .accounts
        .get(to)
        .ok_or_else(|| format!("{to} is not a simulated account"))?
        .companions
        .values()
        .filter(|c| c.linked)
        .map(|c| c.device)
        .collect();
    for device in &devices {
        let (enc, conn) = encrypt_to_device(state, from, to, *device, message).await?;
        deliver(state, to, *device, conn, build(enc));
    }
    Ok(devices.len())
}

/// `<enc>` of `message` from simulated `(from, 0)` to companion `(to, device)`, starting a
/// Signal session from the companion's published keys when there is none.
async fn encrypt_to_device(
    state: &mut State,
    from: &str,
    to: &str,
    device: u16,
    message: &wa::Message,
) -> Result<(Node, Option<ConnHandle>), String> {
    let conn = state.conn_of(to, device);
    let companion = state
        .companion_mut(to, device)
        .filter(|c| c.linked)
        .ok_or_else(|| format!("{to}:{device} is not linked"))?;
    let bundle = companion
        .keys
        .clone()
        .take_bundle(device.into())
        .map_err(|e| e.to_string())?;
    let peer = address(to, device);
    let sender =
        simulated_device(state, from, 0).ok_or_else(|| format!("{from} is not simulated"))?;
    if !sender.has_session(&peer) {
        sender
            .start_session(&peer, &bundle)
            .await
            .map_err(|e| e.to_string())?;
        // The one-time pre-key is spent now.
        if let Some(c) = state.companion_mut(to, device)
            && !c.keys.pre_keys.is_empty()
        {
            c.keys.pre_keys.remove(0);
        }
    }
    let sender = simulated_device(state, from, 0).expect("checked above");
    let plaintext = MessageUtils::encode_and_pad(message);
    let (kind, ciphertext) = sender
        .encrypt(&peer, &plaintext)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        NodeBuilder::new("enc")
            .attr("v", "2")
            .attr("type", kind)
            .bytes(ciphertext)
            .build(),
        conn,
    ))
}

/// Queues `node` for the device until it acknowledges it, and sends it now when online.
pub(crate) fn deliver(
    state: &mut State,
    phone: &str,
    device: u16,
    conn: Option<ConnHandle>,
    node: Node,
) {
    let Some(companion) = state.companion_mut(phone, device) else {
        return;
    };
    companion
        .unacked
        .push((attr(&node, "id").unwrap_or_default(), node.clone()));
    if let Some(conn) = conn {
        conn.send(node);
    }
}

/// `<receipt>` from a contact's phone: `None` is a delivery receipt, `Some("read")` read.
pub fn receipt(id: &str, contact: &str, kind: Option<&str>) -> Node {
    let mut node = NodeBuilder::new("receipt")
        .attr("id", id)
        .attr("from", Jid::pn(contact))
        .attr("t", now_secs().to_string());
    if let Some(kind) = kind {
        node = node.attr("type", kind);
    }
    node.build()
}

/// A member's delivery receipt for a group message.
fn group_receipt(id: &str, group: &Jid, member: &str) -> Node {
    NodeBuilder::new("receipt")
        .attr("id", id)
        .attr("from", group.clone())
        .attr("participant", Jid::pn(member))
        .attr("t", now_secs().to_string())
        .build()
}

/// A pairwise message that only hands over a sender key (nothing for the chat).
fn only_key_distribution(message: &wa::Message) -> bool {
    message.sender_key_distribution_message.is_set() && {
        let mut rest = message.clone();
        rest.sender_key_distribution_message = MessageField::none();
        rest.message_context_info = MessageField::none();
        rest == wa::Message::default()
    }
}

fn asks_for_app_state_keys(message: &wa::Message) -> bool {
    message
        .protocol_message
        .as_option()
        .is_some_and(|p| p.app_state_sync_key_request.is_set())
}

/// The text of a message, whichever way it carries one.
pub fn message_text(message: &wa::Message) -> Option<String> {
    message.conversation.clone().or_else(|| {
        message
            .extended_text_message
            .as_option()
            .and_then(|m| m.text.clone())
    })
}
