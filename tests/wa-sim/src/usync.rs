//! `xmlns="usync"`: who is on WhatsApp, their LID, their devices, whether they are a
//! business. One `<user>` answer per `<user>` asked, with the protocols the query named.

use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node, Server};
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::nodes::{attr, child, children, iq_result, jid_attr, text};
use crate::pairing::signed_key_index_list;
use crate::world::{State, World};

impl World {
    pub async fn usync(&self, id: &str, node: &Node) -> Node {
        let Some(usync) = child(node, "usync") else {
            return crate::nodes::iq_error(id, 400, "bad-request");
        };
        let protocols: Vec<String> = child(usync, "query")
            .and_then(Node::children)
            .map(|c| c.iter().map(|p| p.tag.to_string()).collect())
            .unwrap_or_default();
        let state = self.state.lock().await;
        let users: Vec<Node> = child(usync, "list")
            .map(|list| {
                children(list, "user")
                    .map(|user| answer_user(&state, user, &protocols))
                    .collect()
            })
            .unwrap_or_default();
        let mut reply = NodeBuilder::new("usync");
        for key in ["sid", "mode", "context"] {
            if let Some(value) = attr(usync, key) {
                reply = reply.attr(key, value);
            }
        }
        iq_result(
            id,
            vec![
                reply
                    .attr("index", "0")
                    .attr("last", "true")
                    .children([NodeBuilder::new("list").children(users).build()])
                    .build(),
            ],
        )
    }
}

/// The number a `<user>` asks about: its `jid` (PN or LID) or its `<contact>` number (as
/// asked, echoed back), and the phone it is registered as.
fn asked_phone(state: &State, user: &Node) -> (Option<String>, Option<Jid>, Option<String>) {
    let asked_jid = jid_attr(user, "jid");
    let number = child(user, "contact").and_then(text);
    let phone = match &asked_jid {
        Some(jid) => state.phone_of(&jid.user, jid.server),
        None => number.as_deref().map(|n| {
            canonical_phone(
                state,
                &n.chars().filter(char::is_ascii_digit).collect::<String>(),
            )
        }),
    };
    (phone, asked_jid, number)
}

/// The account a dialled number reaches, as WhatsApp resolves it: Brazilian mobiles gained
/// a ninth digit (`55 DD 9XXXXXXXX`) after many were registered without it, and Mexican
/// mobiles dropped the `1` after `52`; either form reaches the account, whose JID is the
/// form it registered with.
fn canonical_phone(state: &State, digits: &str) -> String {
    let registered = |p: &str| state.accounts.contains_key(p) || state.contacts.contains_key(p);
    if registered(digits) {
        return digits.to_string();
    }
    let variant = if let Some(rest) = digits.strip_prefix("55") {
        match rest.len() {
            11 if rest.as_bytes()[2] == b'9' => Some(format!("55{}{}", &rest[..2], &rest[3..])),
            10 => Some(format!("55{}9{}", &rest[..2], &rest[2..])),
            _ => None,
        }
    } else if let Some(rest) = digits.strip_prefix("521") {
        (rest.len() == 10).then(|| format!("52{rest}"))
    } else if let Some(rest) = digits.strip_prefix("52") {
        (rest.len() == 10).then(|| format!("521{rest}"))
    } else {
        None
    };
    variant
        .filter(|v| registered(v))
        .unwrap_or_else(|| digits.to_string())
}

fn answer_user(state: &State, user: &Node, protocols: &[String]) -> Node {
    let (phone, asked_jid, number) = asked_phone(state, user);
    let account = phone.as_deref().and_then(|p| state.accounts.get(p));
    let contact = phone.as_deref().and_then(|p| state.contacts.get(p));
    let registered = account.is_some() || contact.is_some();
    let reply_jid = match (&asked_jid, &phone) {
        (Some(jid), _) => jid.to_non_ad(),
        (None, Some(phone)) => Jid::pn(phone.as_str()),
        (None, None) => Jid::pn(""),
    };
    let mut results = Vec::new();
    for protocol in protocols {
        match protocol.as_str() {
            "contact" if state.faults.throttle_lookups => results.push(
                NodeBuilder::new("contact")
                    .children([NodeBuilder::new("error")
                        .attr("code", "429")
                        .attr("text", "rate-overlimit")
                        .build()])
                    .build(),
            ),
            "contact" => {
                let mut node =
                    NodeBuilder::new("contact").attr("type", if registered { "in" } else { "out" });
                if let Some(number) = &number {
                    node = node.string_content(number.as_str());
                }
                results.push(node.build());
            }
            "lid" if registered => {
                let lid = phone
                    .as_deref()
                    .and_then(|p| state.lid_of(p))
                    .unwrap_or_default();
                results.push(
                    NodeBuilder::new("lid")
                        .attr("val", Jid::lid(lid.as_str()))
                        .build(),
                );
            }
            "devices" if registered => {
                let mut list = vec![NodeBuilder::new("device").attr("id", "0").build()];
                let mut devices = Vec::new();
                if let Some(account) = account {
                    for companion in account.companions.values().filter(|c| c.linked) {
                        list.push(
                            NodeBuilder::new("device")
                                .attr("id", companion.device.to_string())
                                .attr("key-index", companion.key_index.to_string())
                                .build(),
                        );
                    }
                    let indexes = account.linked_key_indexes();
                    devices.push(NodeBuilder::new("device-list").children(list).build());
                    if !indexes.is_empty() {
                        let now = chrono::Utc::now().timestamp() as u64;
                        devices.push(
                            NodeBuilder::new("key-index-list")
                                .attr("ts", now.to_string())
                                .bytes(signed_key_index_list(
                                    account.primary.identity_key_pair(),
                                    account.adv_raw_id,
                                    now,
                                    &indexes,
                                ))
                                .build(),
                        );
                    }
                } else {
                    devices.push(NodeBuilder::new("device-list").children(list).build());
                }
                results.push(NodeBuilder::new("devices").children(devices).build());
            }
            // Someone who hides them from strangers answers 401 for both, as WhatsApp does.
            "status" if registered => results.push(match contact {
                Some(c) if c.hides_profile => {
                    NodeBuilder::new("status").attr("code", "401").build()
                }
                Some(c) => NodeBuilder::new("status")
                    .attr("t", "1700000000")
                    .string_content(c.about.clone().unwrap_or_default())
                    .build(),
                None => NodeBuilder::new("status")
                    .attr("t", "1700000000")
                    .string_content(
                        account
                            .and_then(|a| a.profile.about.clone())
                            .unwrap_or_default(),
                    )
                    .build(),
            }),
            "picture" if registered => results.push(match contact {
                Some(c) if c.hides_profile => NodeBuilder::new("picture")
                    .children([NodeBuilder::new("error").attr("code", "401").build()])
                    .build(),
                _ => NodeBuilder::new("picture")
                    .attr("id", picture_id(phone.as_deref().unwrap_or_default()))
                    .build(),
            }),
            "business" => {
                if let Some(name) = contact.and_then(|c| c.business_name.as_deref()) {
                    results.push(
                        NodeBuilder::new("business")
                            .children([NodeBuilder::new("verified_name")
                                .bytes(verified_name_certificate(name))
                                .build()])
                            .build(),
                    );
                }
            }
            _ => {}
        }
    }
    let mut node = NodeBuilder::new("user").attr("jid", reply_jid.clone());
    if reply_jid.server == Server::Lid
        && let Some(phone) = &phone
    {
        node = node.attr("pn_jid", Jid::pn(phone.as_str()));
    }
    node.children(results).build()
}

fn verified_name_certificate(name: &str) -> Vec<u8> {
    let details = wa::verified_name_certificate::Details {
        serial: Some(rand::random::<u32>().into()),
        issuer: Some("smb:wa".into()),
        verified_name: Some(name.to_string()),
        ..Default::default()
    };
    wa::VerifiedNameCertificate {
        details: Some(details.encode_to_vec()),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A stable picture id for `phone` (WhatsApp's are numeric).
pub fn picture_id(phone: &str) -> String {
    let digits: u64 = phone.parse().unwrap_or(0);
    (1_700_000_000 + digits % 100_000_000).to_string()
}
