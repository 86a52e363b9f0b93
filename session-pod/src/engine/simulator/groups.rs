//! The simulator engine's groups: WhatsApp's rules on a small model kept in
//! `simulator-groups.json`, so sandboxes can build group features without a phone.
//!
//! The sandbox account starts in "Simulated Team" (its superadmin) and "Simulated
//! Customers" (a member), and can join "Simulated Open Group" with invite code
//! [`OPEN_GROUP_CODE`]. Numbers ending in `0000` are not on WhatsApp (404 on add);
//! numbers ending in `0403` do not let strangers add them (403).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use wagate_api::{
    GroupChanges, GroupFacts, GroupInfo, GroupParticipant, GroupRole, GroupSettings,
    JoinGroupResponse, ParticipantAction, ParticipantResult,
};

use crate::engine::EngineError;
use crate::engine::groups::changes_need_admin;

const GROUPS_FILE: &str = "simulator-groups.json";
/// The invite code of the one seeded group the sandbox account is not in.
pub const OPEN_GROUP_CODE: &str = "SimulatedInviteCode1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimGroup {
    jid: String,
    subject: String,
    description: Option<String>,
    owner: String,
    created: DateTime<Utc>,
    settings: GroupSettings,
    /// Phone digits and rights, in join order.
    members: Vec<(String, GroupRole)>,
    invite: String,
}

impl SimGroup {
    fn role_of(&self, phone: &str) -> Option<GroupRole> {
        self.members
            .iter()
            .find(|(m, _)| m == phone)
            .map(|(_, role)| *role)
    }

    fn info(&self, me: &str) -> GroupInfo {
        GroupFacts {
            jid: self.jid.clone(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            owner: Some(format!("{}@s.whatsapp.net", self.owner)),
            created: Some(self.created),
            settings: self.settings,
            participants: self
                .members
                .iter()
                .map(|(phone, role)| GroupParticipant {
                    jid: format!("{phone}@s.whatsapp.net"),
                    phone: Some(phone.clone()),
                    role: *role,
                })
                .collect(),
        }
        .into_info(&[me.to_string()])
    }
}

/// The groups the simulated WhatsApp knows, as one account sees and changes them.
pub struct SimGroups {
    file: PathBuf,
    groups: Vec<SimGroup>,
}

impl SimGroups {
    /// The groups saved in `dir`, or the seeded ones for account `me`.
    pub fn load(dir: &Path, me: &str) -> Self {
        let file = dir.join(GROUPS_FILE);
        let groups = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| seeded(me));
        Self { file, groups }
    }

    fn save(&self) -> Result<(), EngineError> {
        let bytes = serde_json::to_vec(&self.groups).expect("serializable");
        super::write_atomically(&self.file, &bytes)
            .map_err(|e| EngineError::Transient(format!("cannot save groups: {e}")))
    }

    /// The groups `me` is in, by subject.
    pub fn list(&self, me: &str) -> Vec<GroupInfo> {
        let mut out: Vec<GroupInfo> = self
            .groups
            .iter()
            .filter(|g| g.role_of(me).is_some())
            .map(|g| g.info(me))
            .collect();
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        out
    }

    /// Group `jid` if `me` is in it.
    fn member_of(&mut self, jid: &str, me: &str) -> Result<&mut SimGroup, EngineError> {
        self.groups
            .iter_mut()
            .find(|g| g.jid == jid && g.role_of(me).is_some())
            .ok_or_else(|| EngineError::GroupNotFound(jid.to_string()))
    }

    /// Group `jid` if `me` is an admin of it.
    fn admin_of(&mut self, jid: &str, me: &str) -> Result<&mut SimGroup, EngineError> {
        let group = self.member_of(jid, me)?;
        if group.role_of(me).is_some_and(GroupRole::is_admin) {
            Ok(group)
        } else {
            Err(EngineError::NotGroupAdmin(jid.to_string()))
        }
    }

    pub fn info(&mut self, jid: &str, me: &str) -> Result<GroupInfo, EngineError> {
        Ok(self.member_of(jid, me)?.info(me))
    }

    pub fn create(
        &mut self,
        subject: &str,
        participants: &[String],
        me: &str,
    ) -> Result<GroupInfo, EngineError> {
        let created = Utc::now();
        let mut members = vec![(me.to_string(), GroupRole::Superadmin)];
        members.extend(
            participants
                .iter()
                .filter(|p| add_refusal(p).is_none() && p.as_str() != me)
                .map(|p| (p.clone(), GroupRole::Member)),
        );
        let group = SimGroup {
            jid: format!(
                "120363{:012}@g.us",
                created.timestamp_micros() % 1_000_000_000_000
            ),
            subject: subject.to_string(),
            description: None,
            owner: me.to_string(),
            created,
            settings: GroupSettings::default(),
            members,
            invite: new_invite_code(),
        };
        let info = group.info(me);
        self.groups.push(group);
        self.save()?;
        Ok(info)
    }

    pub fn update(
        &mut self,
        jid: &str,
        changes: &GroupChanges,
        me: &str,
    ) -> Result<(), EngineError> {
        let group = self.member_of(jid, me)?;
        let is_admin = group.role_of(me).is_some_and(GroupRole::is_admin);
        if changes_need_admin(changes, group.settings.locked) && !is_admin {
            return Err(EngineError::NotGroupAdmin(jid.to_string()));
        }
        if let Some(subject) = &changes.subject {
            group.subject = subject.clone();
        }
        if let Some(description) = &changes.description {
            group.description = (!description.is_empty()).then(|| description.clone());
        }
        if let Some(announce) = changes.announce {
            group.settings.announce = announce;
        }
        if let Some(locked) = changes.locked {
            group.settings.locked = locked;
        }
        if let Some(seconds) = changes.ephemeral_seconds {
            group.settings.ephemeral_seconds = seconds;
        }
        self.save()
    }

    pub fn participants(
        &mut self,
        jid: &str,
        action: ParticipantAction,
        participants: &[String],
        me: &str,
    ) -> Result<Vec<ParticipantResult>, EngineError> {
        let group = self.admin_of(jid, me)?;
        let results = participants
            .iter()
            .map(|p| {
                let role = group.role_of(p);
                let code = match (action, role) {
                    (ParticipantAction::Add, Some(_)) => Some(409),
                    (ParticipantAction::Add, None) => add_refusal(p).or_else(|| {
                        group.members.push((p.clone(), GroupRole::Member));
                        None
                    }),
                    (_, None) => Some(404),
                    (ParticipantAction::Remove, Some(_)) if p == me => {
                        group.members.retain(|(m, _)| m != p);
                        None
                    }
                    // Nobody else removes or demotes the superadmin.
                    (_, Some(GroupRole::Superadmin)) => Some(403),
                    (ParticipantAction::Remove, Some(_)) => {
                        group.members.retain(|(m, _)| m != p);
                        None
                    }
                    (ParticipantAction::Promote, Some(_)) => {
                        set_role(group, p, GroupRole::Admin);
                        None
                    }
                    (ParticipantAction::Demote, Some(_)) => {
                        set_role(group, p, GroupRole::Member);
                        None
                    }
                };
                ParticipantResult::from_code(p.clone(), code)
            })
            .collect();
        hand_over(group);
        self.save()?;
        Ok(results)
    }

    pub fn invite_code(&mut self, jid: &str, reset: bool, me: &str) -> Result<String, EngineError> {
        let group = self.admin_of(jid, me)?;
        if reset {
            group.invite = new_invite_code();
        }
        let code = group.invite.clone();
        self.save()?;
        Ok(code)
    }

    pub fn join(&mut self, code: &str, me: &str) -> Result<JoinGroupResponse, EngineError> {
        let group = self
            .groups
            .iter_mut()
            .find(|g| g.invite == code)
            .ok_or(EngineError::InviteInvalid)?;
        if group.role_of(me).is_some() {
            return Err(EngineError::Conflict(
                "already a member of that group".into(),
            ));
        }
        group.members.push((me.to_string(), GroupRole::Member));
        let jid = group.jid.clone();
        self.save()?;
        Ok(JoinGroupResponse {
            jid,
            pending_approval: false,
        })
    }

    pub fn leave(&mut self, jid: &str, me: &str) -> Result<(), EngineError> {
        let group = self.member_of(jid, me)?;
        group.members.retain(|(m, _)| m != me);
        hand_over(group);
        self.save()
    }
}

/// Deletes the saved groups of `dir` (the account unlinked).
pub fn forget(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(GROUPS_FILE));
}

/// A group whose superadmin left goes to its longest member (as the protocol simulator
/// models it).
fn hand_over(group: &mut SimGroup) {
    if !group
        .members
        .iter()
        .any(|(_, r)| *r == GroupRole::Superadmin)
        && let Some(first) = group.members.first_mut()
    {
        first.1 = GroupRole::Superadmin;
    }
}

fn set_role(group: &mut SimGroup, phone: &str, role: GroupRole) {
    if let Some(member) = group.members.iter_mut().find(|(m, _)| m == phone) {
        member.1 = role;
    }
}

/// Why WhatsApp would not add `phone` (`None`: it would).
fn add_refusal(phone: &str) -> Option<u16> {
    if phone.ends_with("0000") {
        Some(404)
    } else if phone.ends_with("0403") {
        Some(403)
    } else {
        None
    }
}

/// A fresh invite code (WhatsApp's are 22 letters and digits).
fn new_invite_code() -> String {
    use rand::Rng;
    hex::encode(rand::rng().random::<[u8; 11]>())
}

fn seeded(me: &str) -> Vec<SimGroup> {
    let created = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid time");
    let contacts = |n: usize, from: u64| -> Vec<(String, GroupRole)> {
        (0..n as u64)
            .map(|i| (format!("1555{:07}", from + i), GroupRole::Member))
            .collect()
    };
    let mut team = vec![(me.to_string(), GroupRole::Superadmin)];
    team.extend(contacts(2, 1));
    let mut customers = vec![
        ("15550000001".to_string(), GroupRole::Superadmin),
        (me.to_string(), GroupRole::Member),
    ];
    customers.extend(contacts(40, 100));
    vec![
        SimGroup {
            jid: "120363000000000001@g.us".into(),
            subject: "Simulated Team".into(),
            description: Some("Where the simulator hangs out".into()),
            owner: me.to_string(),
            created,
            settings: GroupSettings::default(),
            members: team,
            invite: "SimulatedTeamInvite01".into(),
        },
        SimGroup {
            jid: "120363000000000002@g.us".into(),
            subject: "Simulated Customers".into(),
            description: None,
            owner: "15550000001".into(),
            created,
            settings: GroupSettings {
                announce: true,
                locked: true,
                ephemeral_seconds: 0,
            },
            members: customers,
            invite: "SimulatedCustomers001".into(),
        },
        SimGroup {
            jid: "120363000000000003@g.us".into(),
            subject: "Simulated Open Group".into(),
            description: Some("Join with the sandbox invite code".into()),
            owner: "15550000002".into(),
            created,
            settings: GroupSettings::default(),
            members: vec![("15550000002".to_string(), GroupRole::Superadmin)],
            invite: OPEN_GROUP_CODE.into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "971500000001";

    fn groups() -> (tempfile::TempDir, SimGroups) {
        let dir = tempfile::tempdir().unwrap();
        let groups = SimGroups::load(dir.path(), ME);
        (dir, groups)
    }

    #[test]
    fn members_only_change_what_they_may() {
        let (_dir, mut g) = groups();
        let customers = "120363000000000002@g.us";
        let rename = GroupChanges {
            subject: Some("Mine now".into()),
            ..Default::default()
        };
        assert_eq!(
            g.update(customers, &rename, ME),
            Err(EngineError::NotGroupAdmin(customers.into()))
        );
        assert!(matches!(
            g.participants(
                customers,
                ParticipantAction::Add,
                &["971509999991".into()],
                ME
            ),
            Err(EngineError::NotGroupAdmin(_))
        ));
        assert!(matches!(
            g.info("120363000000000003@g.us", ME),
            Err(EngineError::GroupNotFound(_))
        ));
    }

    #[test]
    fn participant_calls_answer_per_number_and_persist() {
        let (dir, mut g) = groups();
        let team = g
            .create("Team", &["971509990000".into(), "971501110403".into()], ME)
            .unwrap();
        assert_eq!(team.participant_count, 1, "neither could be added");
        let results = g
            .participants(
                &team.jid,
                ParticipantAction::Add,
                &[
                    "971501234567".into(),
                    "971501234567".into(),
                    "971501110403".into(),
                ],
                ME,
            )
            .unwrap();
        let codes: Vec<u16> = results.iter().map(|r| r.status).collect();
        assert_eq!(codes, [200, 409, 403]);
        let reloaded = SimGroups::load(dir.path(), ME).info(&team.jid, ME).unwrap();
        assert_eq!(reloaded.participant_count, 2);
    }

    #[test]
    fn invites_join_and_reset() {
        let (_dir, mut g) = groups();
        let joined = g.join(OPEN_GROUP_CODE, ME).unwrap();
        assert_eq!(joined.jid, "120363000000000003@g.us");
        assert!(matches!(
            g.join(OPEN_GROUP_CODE, ME),
            Err(EngineError::Conflict(_))
        ));
        g.leave(&joined.jid, ME).unwrap();
        let team = "120363000000000001@g.us";
        let old = g.invite_code(team, false, ME).unwrap();
        let new = g.invite_code(team, true, ME).unwrap();
        assert_ne!(old, new);
        assert_eq!(
            g.join(&old, "971502222222"),
            Err(EngineError::InviteInvalid)
        );
    }
}
