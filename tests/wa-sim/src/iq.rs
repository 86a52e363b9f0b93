//! The server's answers to a logged-in client's IQs, by namespace. Wire formats are the
//! ones `wacore::iq` documents and parses; anything we do not model gets the `501` a real
//! server gives an unsupported feature, so the client's own error path runs.

use wacore::iq::prekeys::{OneTimePreKeyNode, PreKeyBundleUserNode, SignedPreKeyNode};
use wacore::protocol::ProtocolNode;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node};

use crate::nodes::{attr, be_u32, bytes, child, children, fixed32, iq_error, iq_result, jid_attr};
use crate::world::{ConnHandle, State, World};

impl World {
    pub async fn on_iq(&self, conn: &ConnHandle, node: &Node) {
        let kind = attr(node, "type").unwrap_or_default();
        if kind == "result" || kind == "error" {
            return self.on_iq_answer(node).await;
        }
        let Some(id) = attr(node, "id") else { return };
        let xmlns = attr(node, "xmlns").unwrap_or_default();
        let first = node.children().and_then(|c| c.first());
        let first_tag = first.map(|c| c.tag.to_string()).unwrap_or_default();
        let me = self.state.lock().await.device_on(conn.id);
        let answer = match (xmlns.as_str(), first_tag.as_str()) {
            ("w:p", _) => iq_result(&id, vec![]),
            ("passive", "active") => {
                conn.send(iq_result(&id, vec![]));
                if let Some((phone, device)) = me {
                    self.went_active(conn, &phone, device).await;
                }
                return;
            }
            ("passive", _) => iq_result(&id, vec![]),
            ("encrypt", _) => match me {
                Some((phone, device)) => self.encrypt_iq(&id, &kind, node, &phone, device).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("usync", _) => self.usync(&id, node).await,
            // Fetches and sends are both `set`s; a send carries `<patch>`es.
            ("w:sync:app:state", _) if carries_patches(node) => match me {
                Some((phone, _)) => self.app_state_patches(&id, node, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("w:sync:app:state", _) => {
                let state = self.state.lock().await;
                let account = me.as_ref().and_then(|(phone, _)| state.accounts.get(phone));
                app_state_sync(&id, node, account)
            }
            ("md", "link_code_companion_reg") => {
                self.on_link_code_iq(conn, &id, node).await;
                return;
            }
            ("md", "remove-companion-device") => {
                if let Some((phone, device)) = me {
                    self.remove_companion(&phone, device).await;
                }
                iq_result(&id, vec![])
            }
            ("w:g2", "participating") => match me {
                Some((phone, _)) => self.participating_groups(&id, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("w:g2", "query") => match me {
                Some((phone, _)) => self.group_query(&id, node, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("w:g2", _) => match me {
                Some((phone, _)) => self.group_admin_iq(conn, &id, &kind, node, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("w:m", "media_conn") => self.media_conn(&id),
            ("w:profile:picture", _) if kind == "get" => self.profile_picture(&id, node).await,
            ("w:profile:picture", _) => match me {
                Some((phone, _)) => self.set_picture_iq(&id, node, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("status", _) if kind == "set" => match me {
                Some((phone, _)) => self.set_about_iq(&id, node, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("blocklist", _) => match me {
                Some((phone, _)) => self.blocklist_iq(&id, &kind, node, &phone).await,
                None => iq_error(&id, 401, "not-authorized"),
            },
            ("privacy", _) if kind == "get" => iq_result(&id, vec![privacy_settings()]),
            // Trusted-contact tokens the client issues after a first message.
            ("privacy", "tokens") => iq_result(&id, vec![]),
            ("abt", _) => iq_result(
                &id,
                vec![
                    NodeBuilder::new("props")
                        .attr("protocol", "1")
                        .attr("ab_key", "sim")
                        .attr("hash", "sim")
                        .attr("refresh", "86400")
                        .build(),
                ],
            ),
            ("w", "props") => iq_result(
                &id,
                vec![
                    NodeBuilder::new("props")
                        .attr("version", "1")
                        .attr("hash", "sim")
                        .build(),
                ],
            ),
            _ => {
                tracing::info!("unmodelled IQ: {}", crate::wire::xml(node));
                iq_error(&id, 501, "feature-not-implemented")
            }
        };
        conn.send(answer);
    }

    /// `xmlns="w:profile:picture"` `get`: where `target`'s picture is, or 401 when their
    /// privacy settings hide it, 404 for someone not on WhatsApp.
    async fn profile_picture(&self, id: &str, node: &Node) -> Node {
        let Some(target) = jid_attr(node, "target") else {
            return iq_error(id, 400, "bad-request");
        };
        let state = self.state.lock().await;
        let Some(phone) = state.phone_of(&target.user, target.server) else {
            return iq_error(id, 404, "item-not-found");
        };
        if state.contacts.get(&phone).is_some_and(|c| c.hides_profile) {
            return iq_error(id, 401, "not-authorized");
        }
        let picture_id = match state.accounts.get(&phone) {
            Some(account) => match &account.profile.picture {
                Some((id, _)) => id.clone(),
                None => return iq_error(id, 404, "item-not-found"),
            },
            None => crate::usync::picture_id(&phone),
        };
        iq_result(
            id,
            vec![
                NodeBuilder::new("picture")
                    .attr("id", picture_id.as_str())
                    .attr("type", "image")
                    .attr(
                        "url",
                        format!("https://pps.whatsapp.net/sim/{phone}.jpg?id={picture_id}"),
                    )
                    .build(),
            ],
        )
    }

    /// `xmlns="w:m"`: where media is up- and downloaded (the simulator's media host).
    fn media_conn(&self, id: &str) -> Node {
        use wacore::iq::mediaconn::{HostType, MediaConnHostExtended, MediaConnResponseExtended};
        let Some(media) = self.media.get() else {
            return iq_error(id, 501, "feature-not-implemented");
        };
        let host = MediaConnHostExtended::simple(media.hostname(), HostType::Primary);
        let answer =
            MediaConnResponseExtended::mock(crate::media::MEDIA_AUTH.into(), 3600, vec![host]);
        iq_result(id, vec![answer.into_node()])
    }

    /// `xmlns="encrypt"`: pre-key upload, count, fetch, digest and signed pre-key rotation.
    async fn encrypt_iq(
        &self,
        id: &str,
        kind: &str,
        node: &Node,
        phone: &str,
        device: u16,
    ) -> Node {
        let mut state = self.state.lock().await;
        if kind == "set" {
            let answer = upload_keys(&mut state, node, phone, device);
            drop(state);
            self.notify();
            return match answer {
                Ok(()) => iq_result(id, vec![]),
                Err(e) => iq_error(id, 400, e),
            };
        }
        if child(node, "count").is_some() {
            let count = state
                .companion(phone, device)
                .map_or(0, |c| c.keys.pre_keys.len());
            return iq_result(
                id,
                vec![
                    NodeBuilder::new("count")
                        .attr("value", count.to_string())
                        .build(),
                ],
            );
        }
        if let Some(key) = child(node, "key") {
            let users = children(key, "user")
                .filter_map(|u| jid_attr(u, "jid"))
                .map(|jid| bundle_node(&mut state, &jid))
                .collect::<Vec<_>>();
            return iq_result(id, vec![NodeBuilder::new("list").children(users).build()]);
        }
        if child(node, "digest").is_some() {
            return match state.companion(phone, device).filter(|c| c.keys_uploaded) {
                Some(companion) => iq_result(id, vec![key_digest(&companion.keys)]),
                // Nothing uploaded yet: the client's cue to upload.
                None => iq_error(id, 404, "item-not-found"),
            };
        }
        iq_error(id, 400, "bad-request")
    }

    async fn participating_groups(&self, id: &str, phone: &str) -> Node {
        let state = self.state.lock().await;
        let groups = state
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|(m, _)| m == phone))
            .map(group_node)
            .collect::<Vec<_>>();
        iq_result(
            id,
            vec![NodeBuilder::new("groups").children(groups).build()],
        )
    }

    /// A `set` of app-state patches from a companion: each is stored as the collection's
    /// next version (a patch on an older base is a conflict, `409`), and the account's phone
    /// decrypts its mutations with the sync key.
    async fn app_state_patches(&self, id: &str, node: &Node, phone: &str) -> Node {
        let mut state = self.state.lock().await;
        let Some(account) = state.accounts.get_mut(phone) else {
            return iq_error(id, 404, "item-not-found");
        };
        let mut answered = Vec::new();
        let mut decoded = Vec::new();
        for collection in child(node, "sync")
            .map(|sync| children(sync, "collection").collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let Some(name) = attr(collection, "name") else {
                continue;
            };
            let base: usize = attr(collection, "version")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let stored = account.patches.entry(name.clone()).or_default();
            let mut answer = NodeBuilder::new("collection").attr("name", name.as_str());
            if base != stored.len() {
                answer = answer
                    .attr("type", "error")
                    .children([NodeBuilder::new("error").attr("code", "409").build()]);
            } else {
                for patch in children(collection, "patch") {
                    let bytes = bytes(patch).unwrap_or_default().to_vec();
                    decoded.extend(
                        crate::appstate::decrypt_patch(&account.sync_key, &bytes)
                            .into_iter()
                            .map(|(index, value)| crate::world::AppStateMutation {
                                collection: name.clone(),
                                index,
                                value,
                            }),
                    );
                    stored.push(bytes);
                }
                answer = answer.attr("version", stored.len().to_string());
            }
            answered.push(answer.build());
        }
        state.app_state_mutations.extend(decoded);
        iq_result(
            id,
            vec![NodeBuilder::new("sync").children(answered).build()],
        )
    }

    /// `<query request="interactive"/>` to a group JID: the group's metadata, as a client
    /// asks before sending to it (who the members are). Only members may ask.
    async fn group_query(&self, id: &str, node: &Node, phone: &str) -> Node {
        let Some(group) = jid_attr(node, "to") else {
            return iq_error(id, 400, "bad-request");
        };
        let state = self.state.lock().await;
        match state.groups.iter().find(|g| g.id == group.user.as_str()) {
            Some(g) if g.members.iter().any(|(m, _)| m == phone) => {
                iq_result(id, vec![group_node(g)])
            }
            Some(_) => iq_error(id, 403, "forbidden"),
            None => iq_error(id, 404, "item-not-found"),
        }
    }
}

/// A group as `w:g2` answers describe it: subject, creator, members with their rights.
pub(crate) fn group_node(g: &crate::world::Group) -> Node {
    let group = NodeBuilder::new("group")
        .attr("id", g.id.as_str())
        .attr("subject", g.subject.as_str())
        .attr("s_t", g.created.to_string())
        .attr("creation", g.created.to_string())
        .attr("creator", Jid::pn(g.owner.as_str()))
        .attr("addressing_mode", "pn");
    let mut kids: Vec<Node> = g
        .members
        .iter()
        .map(|(member, admin)| {
            let p = NodeBuilder::new("participant").attr("jid", Jid::pn(member.as_str()));
            match admin {
                crate::world::Admin::No => p.build(),
                crate::world::Admin::Admin => p.attr("type", "admin").build(),
                crate::world::Admin::Superadmin => p.attr("type", "superadmin").build(),
            }
        })
        .collect();
    if g.announce {
        kids.push(NodeBuilder::new("announcement").build());
    }
    if g.locked {
        kids.push(NodeBuilder::new("locked").build());
    }
    if g.ephemeral > 0 {
        kids.push(
            NodeBuilder::new("ephemeral")
                .attr("expiration", g.ephemeral.to_string())
                .build(),
        );
    }
    if let Some(description) = &g.description {
        kids.push(
            NodeBuilder::new("description")
                .attr("id", "sim")
                .children([NodeBuilder::new("body")
                    .string_content(description.as_str())
                    .build()])
                .build(),
        );
    }
    group.children(kids).build()
}

/// `<registration><type><identity><list><key>..</key></list><skey>` or `<rotate><skey>`.
/// Everything is parsed (with the library's own node types) before anything is applied, so
/// a malformed upload changes nothing.
fn upload_keys(
    state: &mut State,
    node: &Node,
    phone: &str,
    device: u16,
) -> Result<(), &'static str> {
    let skey_parent = child(node, "rotate").unwrap_or(node);
    let signed = child(skey_parent, "skey")
        .map(SignedPreKeyNode::try_from_node)
        .transpose()
        .map_err(|_| "malformed skey")?
        .map(|k| (k.id, fixed32(Some(&k.public_bytes)), k.signature));
    let registration = match child(node, "registration").and_then(bytes) {
        Some(raw) => Some(be_u32(raw).ok_or("malformed registration")?),
        None => None,
    };
    let identity = match child(node, "identity").and_then(bytes) {
        Some(raw) => Some(fixed32(Some(raw)).ok_or("malformed identity")?),
        None => None,
    };
    let list = match child(node, "list") {
        Some(list) => Some(
            children(list, "key")
                .map(|key| {
                    let key = OneTimePreKeyNode::try_from_node(key).map_err(|_| "malformed key")?;
                    Ok((
                        key.id,
                        fixed32(Some(&key.public_bytes)).ok_or("malformed key")?,
                    ))
                })
                .collect::<Result<Vec<_>, &'static str>>()?,
        ),
        None => None,
    };

    let companion = state.companion_mut(phone, device).ok_or("unknown device")?;
    if let Some((id, Some(value), signature)) = signed {
        companion.keys.signed_pre_key = (id, value, signature);
    }
    if let Some(registration) = registration {
        companion.keys.registration_id = registration;
    }
    if let Some(identity) = identity {
        companion.keys.identity = identity;
    }
    if let Some(list) = list {
        companion.keys_uploaded = true;
        for (id, value) in list {
            companion
                .keys
                .pre_keys
                .retain(|(existing, _)| *existing != id);
            companion.keys.pre_keys.push((id, value));
        }
    }
    Ok(())
}

/// What the server holds of a device's keys, and the hash the client checks it against.
fn key_digest(keys: &crate::signal::PublishedKeys) -> Node {
    let (spk_id, spk, signature) = &keys.signed_pre_key;
    let pre_keys: Vec<&[u8]> = keys.pre_keys.iter().map(|(_, k)| k.as_slice()).collect();
    let hash =
        wacore::prekeys::compute_key_bundle_digest(&keys.identity, spk, signature, &pre_keys);
    // The digest lists pre-key ids the way uploads and bundles carry them: 3-byte `<id>`s.
    let ids = keys.pre_keys.iter().filter_map(|(id, key)| {
        OneTimePreKeyNode::new(*id, key.to_vec())
            .into_node()
            .get_optional_child("id")
            .cloned()
    });
    NodeBuilder::new("digest")
        .children([
            NodeBuilder::new("registration")
                .bytes(keys.registration_id.to_be_bytes().to_vec())
                .build(),
            NodeBuilder::new("type").bytes(vec![5]).build(),
            NodeBuilder::new("identity")
                .bytes(keys.identity.to_vec())
                .build(),
            SignedPreKeyNode::new(*spk_id, spk.to_vec(), signature.clone()).into_node(),
            NodeBuilder::new("list").children(ids).build(),
            NodeBuilder::new("hash").bytes(hash.to_vec()).build(),
        ])
        .build()
}

/// One `<user>` of a pre-key fetch: the bundle of that device, or its error.
fn bundle_node(state: &mut State, jid: &Jid) -> Node {
    let not_found = || {
        NodeBuilder::new("user")
            .attr("jid", jid.clone())
            .children([NodeBuilder::new("error")
                .attr("code", "404")
                .attr("text", "item-not-found")
                .build()])
            .build()
    };
    let Some(phone) = state.phone_of(&jid.user, jid.server) else {
        return not_found();
    };
    let device = jid.device;
    // Each fetch consumes one of the device's one-time pre-keys, as on the real server.
    let found = if let Some(account) = state.accounts.get_mut(&phone) {
        if device == 0 {
            Some((account.primary.published().take_bundle(0), None))
        } else {
            account
                .companions
                .get_mut(&device)
                .filter(|c| c.linked)
                .map(|c| (c.keys.take_bundle(device.into()), c.signed_identity.clone()))
        }
    } else if device == 0 {
        state
            .contacts
            .get_mut(&phone)
            .map(|c| (c.device.published().take_bundle(0), None))
    } else {
        None
    };
    let Some((bundle, identity)) = found else {
        return not_found();
    };
    match bundle
        .map_err(anyhow::Error::from)
        .and_then(|bundle| PreKeyBundleUserNode::from_bundle(jid.clone(), &bundle, identity))
    {
        Ok(user) => user.into_node(),
        Err(e) => {
            tracing::warn!("cannot build the bundle of {jid}: {e}");
            not_found()
        }
    }
}

/// A `w:sync:app:state` `set` that sends patches rather than fetching.
fn carries_patches(node: &Node) -> bool {
    child(node, "sync")
        .is_some_and(|sync| children(sync, "collection").any(|c| child(c, "patch").is_some()))
}

/// A fetch of app-state collections: for each, the patches past the version the client
/// has (the push name in `critical_block`, and whatever companions sent).
fn app_state_sync(id: &str, node: &Node, account: Option<&crate::world::Account>) -> Node {
    let collections = child(node, "sync")
        .map(|sync| {
            children(sync, "collection")
                .filter_map(|c| {
                    let name = attr(c, "name")?;
                    let have: usize = attr(c, "version").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let all: Vec<Vec<u8>> = account
                        .and_then(|a| a.patches.get(&name).cloned())
                        .unwrap_or_default();
                    let latest = all.len().max(have);
                    let mut collection = NodeBuilder::new("collection")
                        .attr("name", name)
                        .attr("version", latest.to_string());
                    if all.len() > have {
                        let patches = all[have..]
                            .iter()
                            .map(|p| NodeBuilder::new("patch").bytes(p.clone()).build());
                        collection = collection
                            .children([NodeBuilder::new("patches").children(patches).build()]);
                    }
                    Some(collection.build())
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    iq_result(
        id,
        vec![NodeBuilder::new("sync").children(collections).build()],
    )
}

fn privacy_settings() -> Node {
    let category = |name: &'static str, value: &'static str| {
        NodeBuilder::new("category")
            .attr("name", name)
            .attr("value", value)
            .build()
    };
    NodeBuilder::new("privacy")
        .children([
            category("last", "all"),
            category("online", "all"),
            category("profile", "all"),
            category("status", "contacts"),
            category("groupadd", "all"),
            category("readreceipts", "all"),
            category("calladd", "all"),
        ])
        .build()
}
