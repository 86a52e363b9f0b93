//! Group administration as WhatsApp's server does it: the `w:g2` IQs that create and change
//! groups (with the admin rules enforced here, since the client enforces none), the
//! per-number answers of participant changes, invite codes, and the `w:gp2` notifications
//! every other member's devices get when a group changes. Wire shapes follow the
//! parsers in `wacore::iq::groups` and `wacore::stanza::groups`.
//!
//! Per-number codes: 404 for a number the simulator does not know (not on WhatsApp) or,
//! when removing, promoting or demoting, one not in the group; 403 for a contact whose
//! privacy refuses adds ([`World::refuse_group_adds`]) and for the superadmin, whom no
//! one removes or demotes; 409 for adding a member.

use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node};

use crate::nodes::{attr, child, children, iq_error, iq_result, jid_attr, new_id, now_secs, text};
use crate::world::{Admin, ConnHandle, Group, State, World};

/// One change to a group, by whoever makes it (an account's client or a simulated member).
#[derive(Clone, Debug, PartialEq)]
pub enum GroupChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    Promote(Vec<String>),
    Demote(Vec<String>),
    Subject(String),
    /// `None` deletes it.
    Description(Option<String>),
    Announce(bool),
    Locked(bool),
    /// Seconds; 0 turns disappearing messages off.
    Ephemeral(u32),
}

impl GroupChange {
    /// Changes only admins make (subject, description and timer are anyone's unless the
    /// group is locked; announce, locked and members are the admins').
    fn needs_admin(&self, group: &Group) -> bool {
        match self {
            Self::Subject(_) | Self::Description(_) | Self::Ephemeral(_) => group.locked,
            _ => true,
        }
    }
}

impl World {
    /// Contact `phone` does not let strangers add it to groups (403 on add).
    pub async fn refuse_group_adds(&self, phone: &str) {
        self.state
            .lock()
            .await
            .refuses_group_adds
            .insert(phone.to_string());
    }

    /// Member `by` (a simulated contact or an account) changes `group` (its JID): applied
    /// with WhatsApp's rules, and every member account's devices get the notification.
    /// Answers the per-number codes (`None` = done), or why the whole change was refused.
    pub async fn change_group(
        &self,
        by: &str,
        group: &str,
        change: GroupChange,
    ) -> Result<Vec<(String, Option<u16>)>, u16> {
        let group_id = group.strip_suffix("@g.us").unwrap_or(group);
        let mut state = self.state.lock().await;
        let results = apply(&mut state, group_id, by, &change)?;
        let done = changed_numbers(&results);
        if let Some(node) = notification_child(&change, &done) {
            notify_members(&mut state, group_id, by, None, node);
        }
        Ok(results)
    }

    /// `xmlns="w:g2"` sets and gets beyond the listing and the query: create, change,
    /// participants, invite codes, join and leave, for account `me` on `conn`.
    pub async fn group_admin_iq(
        &self,
        conn: &ConnHandle,
        id: &str,
        kind: &str,
        node: &Node,
        me: &str,
    ) -> Node {
        let Some(op) = node.children().and_then(|c| c.first()) else {
            return iq_error(id, 400, "bad-request");
        };
        let to = jid_attr(node, "to");
        let group_id = to
            .as_ref()
            .map(|j| j.user.to_string())
            .filter(|u| !u.is_empty());
        let mut state = self.state.lock().await;
        match (op.tag.as_ref(), group_id) {
            ("create", None) => create(&mut state, id, op, me),
            // A `get` is the invite's preview; a `set` joins.
            ("invite", None) if kind == "set" => join(&mut state, id, op, me, conn),
            ("invite", None) => invite_preview(&state, id, op),
            ("leave", None) => {
                for group in children(op, "group") {
                    let gid = attr(group, "id").unwrap_or_default();
                    let gid = gid.strip_suffix("@g.us").unwrap_or(&gid).to_string();
                    if let Err(code) =
                        apply(&mut state, &gid, me, &GroupChange::Remove(vec![me.into()]))
                    {
                        return iq_error(id, code, "forbidden");
                    }
                    let node = participants_node("remove", &[me.to_string()]);
                    notify_members(&mut state, &gid, me, Some(conn.id), node);
                }
                iq_result(id, vec![])
            }
            ("invite", Some(gid)) => invite_code(&mut state, id, kind == "set", &gid, me),
            (_, Some(gid)) => {
                let Some(change) = change_of(op) else {
                    return iq_error(id, 501, "feature-not-implemented");
                };
                let results = match apply(&mut state, &gid, me, &change) {
                    Ok(results) => results,
                    Err(code) => return iq_error(id, code, refusal_text(code)),
                };
                let done = changed_numbers(&results);
                if let Some(node) = notification_child(&change, &done) {
                    notify_members(&mut state, &gid, me, Some(conn.id), node);
                }
                let tag = match change {
                    GroupChange::Add(_) => "add",
                    GroupChange::Remove(_) => "remove",
                    GroupChange::Promote(_) => "promote",
                    GroupChange::Demote(_) => "demote",
                    _ => return iq_result(id, vec![]),
                };
                // One answer per number, under the action's own tag.
                let answers = results
                    .iter()
                    .map(|(phone, code)| {
                        let p =
                            NodeBuilder::new("participant").attr("jid", Jid::pn(phone.as_str()));
                        match code {
                            Some(code) => p.attr("error", code.to_string()).build(),
                            None => p.build(),
                        }
                    })
                    .collect::<Vec<_>>();
                iq_result(id, vec![NodeBuilder::new(tag).children(answers).build()])
            }
            _ => iq_error(id, 400, "bad-request"),
        }
    }
}

/// The numbers a change went through for.
fn changed_numbers(results: &[(String, Option<u16>)]) -> Vec<String> {
    results
        .iter()
        .filter(|(_, code)| code.is_none())
        .map(|(p, _)| p.clone())
        .collect()
}

fn refusal_text(code: u16) -> &'static str {
    match code {
        404 => "item-not-found",
        _ => "forbidden",
    }
}

/// The change an IQ child asks for.
fn change_of(op: &Node) -> Option<GroupChange> {
    let phones = || {
        children(op, "participant")
            .filter_map(|p| jid_attr(p, "jid"))
            .map(|j| j.user.to_string())
            .collect::<Vec<_>>()
    };
    Some(match op.tag.as_ref() {
        "add" => GroupChange::Add(phones()),
        "remove" => GroupChange::Remove(phones()),
        "promote" => GroupChange::Promote(phones()),
        "demote" => GroupChange::Demote(phones()),
        "subject" => GroupChange::Subject(text(op).unwrap_or_default()),
        "description" if attr(op, "delete").as_deref() == Some("true") => {
            GroupChange::Description(None)
        }
        "description" => GroupChange::Description(child(op, "body").and_then(text)),
        "announcement" => GroupChange::Announce(true),
        "not_announcement" => GroupChange::Announce(false),
        "locked" => GroupChange::Locked(true),
        "unlocked" => GroupChange::Locked(false),
        "ephemeral" => GroupChange::Ephemeral(
            attr(op, "expiration")
                .and_then(|e| e.parse().ok())
                .unwrap_or(0),
        ),
        "not_ephemeral" => GroupChange::Ephemeral(0),
        _ => return None,
    })
}

/// Applies `change` by `by` to group `group_id`: `Err` with the IQ error code when the
/// whole change is refused (404 no such group, 403 not a member or not an admin), else
/// each number's code.
fn apply(
    state: &mut State,
    group_id: &str,
    by: &str,
    change: &GroupChange,
) -> Result<Vec<(String, Option<u16>)>, u16> {
    let known: Vec<String> = state
        .accounts
        .keys()
        .chain(state.contacts.keys())
        .cloned()
        .collect();
    let refusing = state.refuses_group_adds.clone();
    let group = state
        .groups
        .iter_mut()
        .find(|g| g.id == group_id)
        .ok_or(404u16)?;
    let rights = group.role_of(by).ok_or(403u16)?;
    // Leaving needs no rights.
    let leaving = *change == GroupChange::Remove(vec![by.to_string()]);
    if !leaving && change.needs_admin(group) && rights == Admin::No {
        return Err(403);
    }
    let per_number =
        |group: &mut Group, phones: &[String], f: &dyn Fn(&mut Group, &str) -> Option<u16>| {
            phones
                .iter()
                .map(|p| (p.clone(), f(group, p)))
                .collect::<Vec<_>>()
        };
    let results = match change {
        GroupChange::Add(phones) => per_number(group, phones, &|g, p| {
            if g.role_of(p).is_some() {
                Some(409)
            } else if !known.iter().any(|k| k == p) {
                Some(404)
            } else if refusing.contains(p) {
                Some(403)
            } else {
                g.members.push((p.to_string(), Admin::No));
                None
            }
        }),
        GroupChange::Remove(phones) => per_number(group, phones, &|g, p| match g.role_of(p) {
            None => Some(404),
            Some(Admin::Superadmin) if p != by => Some(403),
            Some(_) => {
                g.members.retain(|(m, _)| m != p);
                None
            }
        }),
        GroupChange::Promote(phones) => {
            per_number(group, phones, &|g, p| g.set_role(p, Admin::Admin))
        }
        GroupChange::Demote(phones) => per_number(group, phones, &|g, p| g.set_role(p, Admin::No)),
        GroupChange::Subject(subject) => {
            group.subject = subject.clone();
            vec![]
        }
        GroupChange::Description(description) => {
            group.description = description.clone();
            vec![]
        }
        GroupChange::Announce(on) => {
            group.announce = *on;
            vec![]
        }
        GroupChange::Locked(on) => {
            group.locked = *on;
            vec![]
        }
        GroupChange::Ephemeral(seconds) => {
            group.ephemeral = *seconds;
            vec![]
        }
    };
    // A superadmin who left hands the group to the longest member, as WhatsApp does.
    if !group.members.iter().any(|(_, r)| *r == Admin::Superadmin)
        && let Some(first) = group.members.first_mut()
    {
        first.1 = Admin::Superadmin;
    }
    Ok(results)
}

/// `<create subject><participant jid/>*...</create>`: a group with `me` as superadmin.
fn create(state: &mut State, id: &str, op: &Node, me: &str) -> Node {
    let subject = attr(op, "subject").unwrap_or_default();
    let gid = format!("120363{:012}", rand::random::<u64>() % 1_000_000_000_000);
    state.groups.push(Group {
        id: gid.clone(),
        subject,
        description: None,
        owner: me.to_string(),
        members: vec![(me.to_string(), Admin::Superadmin)],
        created: now_secs(),
        announce: false,
        locked: false,
        ephemeral: 0,
        invite: new_invite_code(),
    });
    let asked: Vec<String> = children(op, "participant")
        .filter_map(|p| jid_attr(p, "jid"))
        .map(|j| j.user.to_string())
        .collect();
    // Who cannot be added is simply not in the group, as in WhatsApp's answer.
    let _ = apply(state, &gid, me, &GroupChange::Add(asked));
    let group = state.groups.iter().find(|g| g.id == gid).expect("created");
    iq_result(id, vec![crate::iq::group_node(group)])
}

/// `<invite/>` get (the code) or set (a new code) on a group `me` administers.
fn invite_code(state: &mut State, id: &str, reset: bool, gid: &str, me: &str) -> Node {
    let Some(group) = state.groups.iter_mut().find(|g| g.id == gid) else {
        return iq_error(id, 404, "item-not-found");
    };
    if !group.role_of(me).is_some_and(|r| r != Admin::No) {
        return iq_error(id, 403, "forbidden");
    }
    if reset {
        group.invite = new_invite_code();
    }
    let code = group.invite.clone();
    iq_result(
        id,
        vec![NodeBuilder::new("invite").attr("code", code).build()],
    )
}

/// `<invite code/>` `get` to `@g.us`: what the group of that code is, without joining.
fn invite_preview(state: &State, id: &str, op: &Node) -> Node {
    let code = attr(op, "code").unwrap_or_default();
    match state.groups.iter().find(|g| g.invite == code) {
        Some(group) => iq_result(id, vec![crate::iq::group_node(group)]),
        None => iq_error(id, 410, "gone"),
    }
}

/// `<invite code/>` `set` to `@g.us`: `me` joins the group of that code.
fn join(state: &mut State, id: &str, op: &Node, me: &str, conn: &ConnHandle) -> Node {
    let code = attr(op, "code").unwrap_or_default();
    let Some(group) = state.groups.iter_mut().find(|g| g.invite == code) else {
        // The code was reset, or never existed.
        return iq_error(id, 410, "gone");
    };
    if group.role_of(me).is_some() {
        return iq_error(id, 304, "not-modified");
    }
    group.members.push((me.to_string(), Admin::No));
    let gid = group.id.clone();
    let node = NodeBuilder::new("add")
        .attr("reason", "invite")
        .children([NodeBuilder::new("participant")
            .attr("jid", Jid::pn(me))
            .build()])
        .build();
    notify_members(state, &gid, me, Some(conn.id), node);
    iq_result(
        id,
        vec![
            NodeBuilder::new("group")
                .attr("jid", Jid::group(gid.as_str()))
                .build(),
        ],
    )
}

fn participants_node(tag: &'static str, phones: &[String]) -> Node {
    NodeBuilder::new(tag)
        .children(
            phones
                .iter()
                .map(|p| {
                    NodeBuilder::new("participant")
                        .attr("jid", Jid::pn(p.as_str()))
                        .build()
                })
                .collect::<Vec<_>>(),
        )
        .build()
}

/// What a `w:gp2` notification says of a change that went through (`done`: the numbers
/// it changed); `None` when nothing changed.
fn notification_child(change: &GroupChange, done: &[String]) -> Option<Node> {
    let node = match change {
        GroupChange::Add(_) => participants_node("add", done),
        GroupChange::Remove(_) => participants_node("remove", done),
        GroupChange::Promote(_) => participants_node("promote", done),
        GroupChange::Demote(_) => participants_node("demote", done),
        GroupChange::Subject(subject) => NodeBuilder::new("subject")
            .attr("subject", subject.as_str())
            .attr("s_t", now_secs().to_string())
            .build(),
        GroupChange::Description(Some(text)) => NodeBuilder::new("description")
            .attr("id", new_id())
            .children([NodeBuilder::new("body")
                .string_content(text.as_str())
                .build()])
            .build(),
        GroupChange::Description(None) => NodeBuilder::new("description")
            .attr("id", new_id())
            .children([NodeBuilder::new("delete").build()])
            .build(),
        GroupChange::Announce(true) => NodeBuilder::new("announcement").build(),
        GroupChange::Announce(false) => NodeBuilder::new("not_announcement").build(),
        GroupChange::Locked(true) => NodeBuilder::new("locked").build(),
        GroupChange::Locked(false) => NodeBuilder::new("unlocked").build(),
        GroupChange::Ephemeral(0) => NodeBuilder::new("not_ephemeral").build(),
        GroupChange::Ephemeral(seconds) => NodeBuilder::new("ephemeral")
            .attr("expiration", seconds.to_string())
            .build(),
    };
    let is_participants = matches!(
        change,
        GroupChange::Add(_)
            | GroupChange::Remove(_)
            | GroupChange::Promote(_)
            | GroupChange::Demote(_)
    );
    (!is_participants || !done.is_empty()).then_some(node)
}

/// `<notification type="w:gp2" from=group participant=by>` to every linked device of every
/// member account (and of accounts just removed, who learn they are out), except the
/// connection that made the change, queued until acknowledged.
fn notify_members(
    state: &mut State,
    group_id: &str,
    by: &str,
    except_conn: Option<u64>,
    child_node: Node,
) {
    let Some(group) = state.groups.iter().find(|g| g.id == group_id) else {
        return;
    };
    let mut phones: Vec<String> = group.members.iter().map(|(m, _)| m.clone()).collect();
    if child_node.tag == "remove" {
        phones.extend(
            children(&child_node, "participant")
                .filter_map(|p| jid_attr(p, "jid"))
                .map(|j| j.user.to_string()),
        );
    }
    let node = NodeBuilder::new("notification")
        .attr("type", "w:gp2")
        .attr("id", new_id())
        .attr("from", Jid::group(group_id))
        .attr("participant", Jid::pn(by))
        .attr("t", now_secs().to_string())
        .attr("addressing_mode", "pn")
        .children([child_node])
        .build();
    let targets: Vec<(String, u16, Option<ConnHandle>)> = state
        .accounts
        .iter()
        .filter(|(phone, _)| phones.contains(phone))
        .flat_map(|(phone, account)| {
            account
                .companions
                .values()
                .filter(|c| c.linked)
                .map(|c| (phone.clone(), c.device))
                .collect::<Vec<_>>()
        })
        .map(|(phone, device)| {
            let conn = state
                .conn_of(&phone, device)
                .filter(|c| Some(c.id) != except_conn);
            (phone, device, conn)
        })
        .filter(|(phone, device, _)| {
            // The acting device already knows; its account's other devices do not.
            except_conn.is_none_or(|id| state.conn_of(phone, *device).is_none_or(|c| c.id != id))
        })
        .collect();
    for (phone, device, conn) in targets {
        crate::messaging::deliver(state, &phone, device, conn, node.clone());
    }
}

/// A fresh invite code (WhatsApp's are 22 letters and digits).
pub(crate) fn new_invite_code() -> String {
    hex::encode(rand::random::<[u8; 11]>())
}
