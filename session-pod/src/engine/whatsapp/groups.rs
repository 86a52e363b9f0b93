//! Groups on the real engine: `whatsapp-rust`'s `groups()` calls (the `w:g2` IQs), their
//! answers as the contract's types, and `w:gp2` notifications as group events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagate_api::groups::{GROUP_DESCRIPTION_MAX_CHARS, GROUP_SUBJECT_MAX_CHARS};
use wagate_api::{
    GroupChanges, GroupFacts, GroupInfo, GroupParticipant, GroupParticipantsData, GroupRole,
    GroupSettings, GroupUpdatedData, JoinGroupResponse, ParticipantAction, ParticipantResult,
};
use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::stanza::groups::{GroupNotificationAction, GroupParticipantInfo};
use whatsapp_rust::wacore::types::events::GroupUpdate;
use whatsapp_rust::{
    ErrorChainExt, GroupCreateOptions, GroupDescription, GroupError, GroupMetadata,
    GroupParticipantOptions, GroupSubject, JoinGroupResult, ParticipantType, PreviousDescription,
};

use super::WhatsAppEngine;
use super::inbound::phone_or_jid;
use crate::engine::groups::changes_need_admin;
use crate::engine::{EngineError, EngineEvent, GroupAdmin};

/// What a refused group call means, by WhatsApp's code: `denied` is the answer to 401/403
/// (not an admin for changes; not a member for reads). Only server trouble is worth a
/// retry; any other refusal is the caller's to read (`409 conflict` with the code).
fn group_error(e: GroupError, group: &str, denied: fn(String) -> EngineError) -> EngineError {
    if matches!(e, GroupError::DescriptionConflict) {
        return EngineError::Conflict(
            "the description changed meanwhile: read the group and try again".into(),
        );
    }
    match e.server_rejection().map(|r| r.code) {
        Some(404) => EngineError::GroupNotFound(group.to_string()),
        Some(401) | Some(403) => denied(group.to_string()),
        Some(429) => EngineError::RateLimited,
        Some(code) if code < 500 => {
            EngineError::Conflict(format!("WhatsApp refused the change (code {code})"))
        }
        _ => EngineError::Transient(format!("group call failed: {e}")),
    }
}

/// Why WhatsApp would not let this account join by an invite, by its code (the codes of
/// `GroupJoinError`).
fn join_error(e: GroupError) -> EngineError {
    let conflict = |why: &str| EngineError::Conflict(why.to_string());
    match e.server_rejection().map(|r| r.code) {
        Some(304) | Some(409) => conflict("already a member of that group"),
        Some(400) | Some(404) | Some(406) | Some(410) => EngineError::InviteInvalid,
        Some(405) => {
            conflict("an admin removed this account from that group: it may not rejoin by link")
        }
        Some(412) | Some(419) => conflict("that group is full"),
        Some(423) => conflict("that group is locked"),
        Some(429) => EngineError::RateLimited,
        Some(code) if code < 500 => {
            EngineError::Conflict(format!("WhatsApp refused the join (code {code})"))
        }
        _ => EngineError::Transient(format!("group join failed: {e}")),
    }
}

/// Why a change to `group` was refused. WhatsApp answers 403 both to a member who is not
/// an admin and (for some calls) to someone not in the group at all: a read of the group
/// tells the two apart.
async fn change_refused(client: &Client, group: &str, e: GroupError) -> EngineError {
    match e.server_rejection().map(|r| r.code) {
        Some(401) | Some(403) => match group_jid(group) {
            Ok(jid) => match client.groups().get_metadata(&jid).await {
                Ok(_) => EngineError::NotGroupAdmin(group.to_string()),
                Err(read) => group_error(read, group, EngineError::GroupNotFound),
            },
            Err(e) => e,
        },
        _ => group_error(e, group, EngineError::NotGroupAdmin),
    }
}

fn group_jid(group: &str) -> Result<Jid, EngineError> {
    group
        .parse()
        .map_err(|_| EngineError::GroupNotFound(group.to_string()))
}

/// A group as WhatsApp describes it, in the contract's words.
pub(super) fn facts_of(group: &GroupMetadata) -> GroupFacts {
    let participants = group
        .participants
        .iter()
        .map(|p| GroupParticipant {
            jid: p.jid.to_string(),
            phone: p
                .phone_number
                .as_ref()
                .or((p.jid.server == Server::Pn).then_some(&p.jid))
                .map(|j| j.user.to_string()),
            role: match p.participant_type {
                ParticipantType::SuperAdmin => GroupRole::Superadmin,
                ParticipantType::Admin => GroupRole::Admin,
                _ => GroupRole::Member,
            },
        })
        .collect();
    GroupFacts {
        jid: group.id.to_string(),
        subject: group.subject.clone(),
        description: group.description.clone(),
        owner: group
            .creator_pn
            .as_ref()
            .or(group.creator.as_ref())
            .map(|j| j.to_string()),
        created: group
            .creation_time
            .and_then(|t| DateTime::<Utc>::from_timestamp(t as i64, 0)),
        settings: GroupSettings {
            announce: group.is_announcement,
            locked: group.is_locked,
            ephemeral_seconds: group
                .ephemeral
                .as_ref()
                .and_then(|e| e.expiration)
                .unwrap_or(0),
        },
        participants,
    }
}

/// The account's user ids (phone digits and LID), as participant JIDs spell them.
pub(super) fn own_users(client: &Client) -> Vec<String> {
    [client.pn(), client.lid()]
        .into_iter()
        .flatten()
        .map(|j| j.user.to_string())
        .collect()
}

#[async_trait]
impl GroupAdmin for WhatsAppEngine {
    async fn group_info(&self, group: &str) -> Result<GroupInfo, EngineError> {
        let client = self.inner.client().await?;
        let metadata = client
            .groups()
            .get_metadata(&group_jid(group)?)
            .await
            .map_err(|e| group_error(e, group, EngineError::GroupNotFound))?;
        Ok(facts_of(&metadata).into_info(&own_users(&client)))
    }

    async fn create_group(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupInfo, EngineError> {
        let client = self.inner.client().await?;
        let options = GroupCreateOptions::new(subject).with_participants(
            participants
                .iter()
                .map(|p| GroupParticipantOptions::new(Jid::pn(p.as_str())))
                .collect(),
        );
        let created = client
            .groups()
            .create_group(options)
            .await
            .map_err(|e| group_error(e, "(new group)", EngineError::NotGroupAdmin))?
            .metadata;
        // WhatsApp's answer to a create also lists who could not be added (with an error
        // the library does not read): the group as WhatsApp then holds it is the truth.
        let group = client
            .groups()
            .get_metadata(&created.id)
            .await
            .unwrap_or(created);
        Ok(facts_of(&group).into_info(&own_users(&client)))
    }

    async fn update_group(&self, group: &str, changes: &GroupChanges) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let jid = group_jid(group)?;
        let invalid = |e: anyhow::Error| EngineError::Permanent(e.to_string());
        let subject = changes
            .subject
            .as_deref()
            .map(GroupSubject::new)
            .transpose()
            .map_err(invalid)?;
        // `""` removes the description.
        let description = match changes.description.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(text) => Some(Some(GroupDescription::new(text).map_err(invalid)?)),
        };
        let groups = client.groups();
        // Rights first, from one read: a change is applied whole or not at all (WhatsApp
        // takes each part as its own call).
        let current = groups
            .get_metadata(&jid)
            .await
            .map_err(|e| group_error(e, group, EngineError::GroupNotFound))?;
        let own = own_users(&client);
        let is_admin = facts_of(&current).into_info(&own).is_admin;
        if !is_admin && changes_need_admin(changes, current.is_locked) {
            return Err(EngineError::NotGroupAdmin(group.to_string()));
        }
        let previous = PreviousDescription::from(current.description_id.as_deref());
        let applied: Result<(), GroupError> = async {
            if let Some(subject) = subject {
                groups.set_subject(jid.clone(), subject).await?;
            }
            if let Some(description) = description {
                groups
                    .set_description(jid.clone(), description, previous)
                    .await?;
            }
            if let Some(announce) = changes.announce {
                groups.set_announce(jid.clone(), announce).await?;
            }
            if let Some(locked) = changes.locked {
                groups.set_locked(jid.clone(), locked).await?;
            }
            if let Some(seconds) = changes.ephemeral_seconds {
                groups.set_ephemeral(jid.clone(), seconds).await?;
            }
            Ok(())
        }
        .await;
        applied.map_err(|e| group_error(e, group, EngineError::NotGroupAdmin))
    }

    async fn group_participants(
        &self,
        group: &str,
        action: ParticipantAction,
        participants: &[String],
    ) -> Result<Vec<ParticipantResult>, EngineError> {
        let client = self.inner.client().await?;
        let jid = group_jid(group)?;
        let jids: Vec<Jid> = participants.iter().map(|p| Jid::pn(p.as_str())).collect();
        let groups = client.groups();
        let answers = match action {
            ParticipantAction::Add => groups.add_participants(jid, &jids).await,
            ParticipantAction::Remove => groups.remove_participants(jid, &jids).await,
            ParticipantAction::Promote => groups.promote_participants(jid, &jids).await,
            ParticipantAction::Demote => groups.demote_participants(jid, &jids).await,
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(e) => return Err(change_refused(&client, group, e).await),
        };
        Ok(participants
            .iter()
            .map(|phone| {
                let answer = answers.iter().find(|a| {
                    a.jid.user == phone.as_str()
                        || a.phone_number
                            .as_ref()
                            .is_some_and(|p| p.user == phone.as_str())
                });
                // A number WhatsApp did not answer for was not changed.
                let code = match answer {
                    Some(a) => a.error.as_deref().map(|c| c.parse().unwrap_or(500)),
                    None => Some(500),
                };
                ParticipantResult::from_code(phone.clone(), code)
            })
            .collect())
    }

    async fn invite_code(&self, group: &str, reset: bool) -> Result<String, EngineError> {
        let client = self.inner.client().await?;
        let link = match client
            .groups()
            .get_invite_link(group_jid(group)?, reset)
            .await
        {
            Ok(link) => link,
            Err(e) => return Err(change_refused(&client, group, e).await),
        };
        Ok(link.rsplit('/').next().unwrap_or_default().to_string())
    }

    async fn join_group(&self, code: &str) -> Result<JoinGroupResponse, EngineError> {
        let client = self.inner.client().await?;
        let joined = client
            .groups()
            .join_with_invite_code(code)
            .await
            .map_err(join_error)?;
        Ok(match joined {
            JoinGroupResult::Joined(jid) => JoinGroupResponse {
                jid: jid.to_string(),
                pending_approval: false,
            },
            JoinGroupResult::PendingApproval(jid) => JoinGroupResponse {
                jid: jid.to_string(),
                pending_approval: true,
            },
        })
    }

    async fn leave_group(&self, group: &str) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        client
            .groups()
            .leave(group_jid(group)?)
            .await
            .map_err(|e| group_error(e, group, EngineError::GroupNotFound))
    }
}

/// Most participants one group event lists (WhatsApp's largest groups).
const GROUP_EVENT_PARTICIPANTS_MAX: usize = 1024;

/// The event a `w:gp2` notification's action raises (`None` for the ones the contract
/// does not report, e.g. community links).
pub(super) fn group_event(update: &GroupUpdate) -> Option<EngineEvent> {
    let group = update.group_jid.to_string();
    let by = update
        .participant_pn
        .as_ref()
        .or(update.participant.as_ref())
        .map(|j| phone_or_jid(&j.to_string()));
    // Anyone can add this account to a group they made: what its notifications carry is
    // held to WhatsApp's own limits before it is queued for webhooks.
    let members = |list: &[GroupParticipantInfo]| -> Vec<String> {
        list.iter()
            .take(GROUP_EVENT_PARTICIPANTS_MAX)
            .map(|p| match &p.phone_number {
                Some(pn) => pn.user.to_string(),
                None => phone_or_jid(&p.jid.to_string()),
            })
            .collect()
    };
    let participants = |action, list: &[GroupParticipantInfo]| {
        Some(EngineEvent::GroupParticipants(GroupParticipantsData {
            group: group.clone(),
            action,
            participants: members(list),
            by: by.clone(),
        }))
    };
    let changed = |changes| {
        Some(EngineEvent::GroupUpdated(GroupUpdatedData {
            group: group.clone(),
            by: by.clone(),
            changes,
        }))
    };
    match &update.action {
        GroupNotificationAction::Add {
            participants: p, ..
        } => participants(ParticipantAction::Add, p),
        GroupNotificationAction::Remove {
            participants: p, ..
        } => participants(ParticipantAction::Remove, p),
        GroupNotificationAction::Promote { participants: p } => {
            participants(ParticipantAction::Promote, p)
        }
        GroupNotificationAction::Demote { participants: p } => {
            participants(ParticipantAction::Demote, p)
        }
        GroupNotificationAction::Subject { subject, .. } => changed(GroupChanges {
            subject: Some(subject.chars().take(GROUP_SUBJECT_MAX_CHARS).collect()),
            ..Default::default()
        }),
        GroupNotificationAction::Description { description, .. } => changed(GroupChanges {
            description: Some(
                description
                    .as_deref()
                    .unwrap_or_default()
                    .chars()
                    .take(GROUP_DESCRIPTION_MAX_CHARS)
                    .collect(),
            ),
            ..Default::default()
        }),
        GroupNotificationAction::Locked { .. } => changed(GroupChanges {
            locked: Some(true),
            ..Default::default()
        }),
        GroupNotificationAction::Unlocked => changed(GroupChanges {
            locked: Some(false),
            ..Default::default()
        }),
        GroupNotificationAction::Announce => changed(GroupChanges {
            announce: Some(true),
            ..Default::default()
        }),
        GroupNotificationAction::NotAnnounce => changed(GroupChanges {
            announce: Some(false),
            ..Default::default()
        }),
        GroupNotificationAction::Ephemeral { expiration, .. } => changed(GroupChanges {
            ephemeral_seconds: Some(*expiration),
            ..Default::default()
        }),
        _ => None,
    }
}
