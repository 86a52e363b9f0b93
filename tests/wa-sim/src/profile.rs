//! An account's own profile and blocklist: `xmlns="status"` (about), `w:profile:picture`
//! `set` (picture set and removal), the push name a companion announces in `<presence
//! name>`, and `xmlns="blocklist"` (by LID, with the phone beside a block), as WhatsApp
//! answers them. Blocked contacts' messages are not delivered.

use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node};

use crate::nodes::{attr, bytes, child, children, iq_error, iq_result, jid_attr, now_secs, text};
use crate::world::World;

/// The longest about text WhatsApp takes.
const ABOUT_MAX_CHARS: usize = 139;
/// The largest picture WhatsApp takes (its apps upload 640 × 640 JPEGs of well under this).
const PICTURE_MAX_BYTES: usize = 2 * 1024 * 1024;

/// What an account shows of itself, as the simulator's server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountProfile {
    pub push_name: String,
    pub about: Option<String>,
    /// The picture's id and its bytes, as the companion uploaded them.
    pub picture: Option<(String, Vec<u8>)>,
}

impl World {
    /// `xmlns="status"` `set`: the account's about text.
    pub(crate) async fn set_about_iq(&self, id: &str, node: &Node, phone: &str) -> Node {
        let about = child(node, "status").and_then(text).unwrap_or_default();
        if about.chars().count() > ABOUT_MAX_CHARS {
            return iq_error(id, 400, "bad-request");
        }
        let mut state = self.state.lock().await;
        match state.accounts.get_mut(phone) {
            Some(account) => {
                account.profile.about = Some(about);
                iq_result(id, vec![])
            }
            None => iq_error(id, 401, "not-authorized"),
        }
    }

    /// `xmlns="w:profile:picture"` `set` without a `target`: the account's own picture
    /// (a JPEG), or its removal when the IQ carries no `<picture>`.
    pub(crate) async fn set_picture_iq(&self, id: &str, node: &Node, phone: &str) -> Node {
        if attr(node, "target").is_some_and(|t| !t.starts_with(phone)) {
            // Group pictures are not modelled.
            return iq_error(id, 501, "feature-not-implemented");
        }
        let upload = child(node, "picture").and_then(bytes).map(<[u8]>::to_vec);
        if let Some(jpeg) = &upload
            && (!jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) || jpeg.len() > PICTURE_MAX_BYTES)
        {
            return iq_error(id, 400, "bad-request");
        }
        let mut state = self.state.lock().await;
        let Some(account) = state.accounts.get_mut(phone) else {
            return iq_error(id, 401, "not-authorized");
        };
        match upload {
            Some(jpeg) => {
                let picture_id = now_secs().to_string();
                account.profile.picture = Some((picture_id.clone(), jpeg));
                iq_result(
                    id,
                    vec![
                        NodeBuilder::new("picture")
                            .attr("id", picture_id.as_str())
                            .build(),
                    ],
                )
            }
            None => {
                account.profile.picture = None;
                iq_result(id, vec![])
            }
        }
    }

    /// `<presence name="...">` from a companion: the account's push name.
    pub(crate) async fn announced_name(&self, phone: &str, node: &Node) {
        if let Some(name) = attr(node, "name").filter(|n| !n.is_empty())
            && let Some(account) = self.state.lock().await.accounts.get_mut(phone)
        {
            account.profile.push_name = name;
        }
    }

    /// `xmlns="blocklist"`: `get` lists whom `phone` blocks (by LID); `set` blocks or
    /// unblocks the `<item>`s, which name a LID (a block also names the phone).
    pub(crate) async fn blocklist_iq(
        &self,
        id: &str,
        kind: &str,
        node: &Node,
        phone: &str,
    ) -> Node {
        let mut state = self.state.lock().await;
        if kind == "get" {
            let Some(account) = state.accounts.get(phone) else {
                return iq_error(id, 401, "not-authorized");
            };
            let items: Vec<Node> = account
                .blocked
                .iter()
                .filter_map(|(blocked, at)| {
                    let lid = state.lid_of(blocked)?;
                    Some(
                        NodeBuilder::new("item")
                            .attr("jid", Jid::lid(lid.as_str()))
                            .attr("t", at.to_string())
                            .build(),
                    )
                })
                .collect();
            return iq_result(id, vec![NodeBuilder::new("list").children(items).build()]);
        }
        let mut changes = Vec::new();
        for item in children(node, "item") {
            let Some(jid) = jid_attr(item, "jid") else {
                return iq_error(id, 400, "bad-request");
            };
            let Some(person) = state.phone_of(&jid.user, jid.server) else {
                return iq_error(id, 404, "item-not-found");
            };
            if !state.contacts.contains_key(&person) && !state.accounts.contains_key(&person) {
                return iq_error(id, 404, "item-not-found");
            }
            match attr(item, "action").as_deref() {
                Some("block") => changes.push((person, true)),
                Some("unblock") => changes.push((person, false)),
                _ => return iq_error(id, 400, "bad-request"),
            }
        }
        let Some(account) = state.accounts.get_mut(phone) else {
            return iq_error(id, 401, "not-authorized");
        };
        for (person, block) in changes {
            if block {
                account.blocked.insert(person, now_secs());
            } else {
                account.blocked.remove(&person);
            }
        }
        iq_result(id, vec![])
    }
}
