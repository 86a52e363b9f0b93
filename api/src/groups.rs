//! Groups: what a group is (`GroupInfo`), the changes an admin makes to one, its members and
//! invite links, and the events a group's changes raise. WhatsApp's own limits are the
//! rules here, so a request WhatsApp would refuse is refused before it leaves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, FieldErrors, Recipient, normalize_phone};

/// WhatsApp's longest group subject.
pub const GROUP_SUBJECT_MAX_CHARS: usize = 100;
/// WhatsApp's longest group description.
pub const GROUP_DESCRIPTION_MAX_CHARS: usize = 2048;
/// Most participants one call adds, removes, promotes or demotes (a group's size limit).
pub const GROUP_PARTICIPANTS_PER_CALL: usize = 256;
/// The disappearing-message timers WhatsApp offers (0 = off, 24 h, 7 days, 90 days).
pub const EPHEMERAL_TIMERS: [u32; 4] = [0, 86_400, 604_800, 7_776_000];
/// Longest invite code accepted (WhatsApp's are 22 characters).
const INVITE_CODE_MAX: usize = 64;

/// The `{groupJid}` of a group route (`120363...@g.us`, or its digits alone) as the full
/// JID; anything else is a `400`.
pub fn parse_group_jid(raw: &str) -> Result<String, ApiError> {
    let candidate = if raw.contains('@') {
        raw.to_string()
    } else {
        format!("{raw}@g.us")
    };
    match Recipient::parse(&candidate) {
        Ok(group @ Recipient::Group(_)) => Ok(group.jid()),
        _ => Err(ApiError::field(
            "groupJid",
            "must be a group JID (digits@g.us, or owner-timestamp@g.us)",
        )),
    }
}

/// A member's rights in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupRole {
    Member,
    Admin,
    /// The group's creator (or who took over from them): an admin no admin can demote.
    Superadmin,
}

impl GroupRole {
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Admin | Self::Superadmin)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupParticipant {
    /// As WhatsApp addresses them (`digits@s.whatsapp.net`, or `...@lid` in LID groups).
    pub jid: String,
    /// Phone digits, when known.
    pub phone: Option<String>,
    pub role: GroupRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupSettings {
    /// Only admins send messages.
    pub announce: bool,
    /// Only admins edit the group's subject, description and settings.
    pub locked: bool,
    /// Disappearing messages timer (0 = off).
    pub ephemeral_seconds: u32,
}

/// A group, as `GET .../groups` lists and `GET .../groups/{groupJid}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    pub jid: String,
    pub subject: String,
    pub description: Option<String>,
    /// Its creator's JID.
    pub owner: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub settings: GroupSettings,
    pub participants: Vec<GroupParticipant>,
    pub participant_count: u32,
    /// This session's account is an admin (or the superadmin).
    pub is_admin: bool,
    pub is_super_admin: bool,
    /// The subject under its first name. Deprecated: read `subject`.
    #[schema(deprecated)]
    pub name: String,
    /// The description under its first name. Deprecated: read `description`.
    #[schema(deprecated)]
    pub topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupsResponse {
    pub groups: Vec<GroupInfo>,
}

/// What an engine knows of a group, turned into the contract's [`GroupInfo`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupFacts {
    pub jid: String,
    pub subject: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub settings: GroupSettings,
    pub participants: Vec<GroupParticipant>,
}

impl GroupFacts {
    /// The group as this account sees it; `own` lists the account's user ids (its phone
    /// digits and its LID), as participants' JIDs spell them.
    pub fn into_info(self, own: &[String]) -> GroupInfo {
        let role = self
            .participants
            .iter()
            .find(|p| {
                let user = p.jid.split(['@', ':']).next().unwrap_or_default();
                own.iter().any(|o| o == user) || p.phone.as_ref().is_some_and(|ph| own.contains(ph))
            })
            .map(|p| p.role);
        GroupInfo {
            participant_count: self.participants.len() as u32,
            is_admin: role.is_some_and(GroupRole::is_admin),
            is_super_admin: role == Some(GroupRole::Superadmin),
            name: self.subject.clone(),
            topic: self.description.clone(),
            jid: self.jid,
            subject: self.subject,
            description: self.description,
            owner: self.owner,
            created: self.created,
            settings: self.settings,
            participants: self.participants,
        }
    }
}

/// `POST .../groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub subject: String,
    /// Phone numbers to add (0-256); who cannot be added is reported in the group's
    /// participant list by absence, as in WhatsApp.
    #[serde(default)]
    pub participants: Vec<String>,
}

impl CreateGroupRequest {
    /// The trimmed subject and the participants' phone digits (deduplicated, in order).
    pub fn validate(&self) -> Result<(String, Vec<String>), ApiError> {
        let mut errors = FieldErrors::new();
        let subject = self.subject.trim().to_string();
        if let Err(why) = check_subject(&subject) {
            errors.insert("subject".into(), why.into());
        }
        let participants = phones("participants", &self.participants, 0, &mut errors);
        if errors.is_empty() {
            Ok((subject, participants))
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// `PATCH .../groups/{groupJid}`, and `changes` of a `group.updated` event: only what is
/// set changes (`description: ""` removes the description).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// 0 (off), 86400 (24 h), 604800 (7 days) or 7776000 (90 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_seconds: Option<u32>,
}

impl GroupChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The changes with the subject trimmed; at least one change, each within WhatsApp's
    /// limits.
    pub fn validate(&self) -> Result<Self, ApiError> {
        if self.is_empty() {
            return Err(ApiError::field(
                "body",
                "must change at least one of subject, description, announce, locked, ephemeralSeconds",
            ));
        }
        let mut errors = FieldErrors::new();
        let subject = self.subject.as_ref().map(|s| s.trim().to_string());
        if let Some(Err(why)) = subject.as_deref().map(check_subject) {
            errors.insert("subject".into(), why.into());
        }
        if let Some(description) = &self.description
            && description.chars().count() > GROUP_DESCRIPTION_MAX_CHARS
        {
            errors.insert(
                "description".into(),
                format!("must be at most {GROUP_DESCRIPTION_MAX_CHARS} characters"),
            );
        }
        if let Some(timer) = self.ephemeral_seconds
            && !EPHEMERAL_TIMERS.contains(&timer)
        {
            errors.insert(
                "ephemeralSeconds".into(),
                "must be 0, 86400, 604800 or 7776000".into(),
            );
        }
        if errors.is_empty() {
            Ok(Self {
                subject,
                ..self.clone()
            })
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantAction {
    Add,
    Remove,
    Promote,
    Demote,
}

impl ParticipantAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Promote => "promote",
            Self::Demote => "demote",
        }
    }
}

/// `POST .../groups/{groupJid}/participants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsRequest {
    pub action: ParticipantAction,
    /// Phone numbers (1-256).
    pub participants: Vec<String>,
}

impl ParticipantsRequest {
    /// The participants' phone digits (deduplicated, in order).
    pub fn validate(&self) -> Result<Vec<String>, ApiError> {
        let mut errors = FieldErrors::new();
        let participants = phones("participants", &self.participants, 1, &mut errors);
        if errors.is_empty() {
            Ok(participants)
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// How WhatsApp answered for one number of a participants call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantResult {
    /// The number as asked (phone digits).
    pub participant: String,
    pub ok: bool,
    /// WhatsApp's code for this number: 200, or e.g. 403 (their privacy settings do not
    /// allow it), 404 (not on WhatsApp, or not a member), 408 (left recently), 409
    /// (already a member).
    pub status: u16,
    /// What the status means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ParticipantResult {
    /// A result from WhatsApp's per-number code (`None` = done).
    pub fn from_code(participant: String, code: Option<u16>) -> Self {
        let status = code.unwrap_or(200);
        let error = code.map(|c| {
            match c {
                401 | 403 => "their privacy settings do not allow it",
                404 => "not on WhatsApp, or not a member of the group",
                408 => "they left the group recently",
                409 => "already a member of the group",
                _ => "refused by WhatsApp",
            }
            .to_string()
        });
        Self {
            participant,
            ok: code.is_none(),
            status,
            error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParticipantsResponse {
    pub results: Vec<ParticipantResult>,
}

/// `GET`/`DELETE .../groups/{groupJid}/invite-link` (a delete answers the new link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InviteLinkResponse {
    /// `https://chat.whatsapp.com/{code}`.
    pub link: String,
    pub code: String,
}

impl InviteLinkResponse {
    pub fn from_code(code: String) -> Self {
        Self {
            link: format!("{INVITE_PREFIX}{code}"),
            code,
        }
    }
}

const INVITE_PREFIX: &str = "https://chat.whatsapp.com/";

/// `POST .../groups/join`: exactly one of `link` and `code`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl JoinGroupRequest {
    /// The invite code.
    pub fn validate(&self) -> Result<String, ApiError> {
        let (field, code) = match (&self.link, &self.code) {
            (Some(link), None) => ("link", invite_code_of(link)),
            (None, Some(code)) => ("code", Some(code.trim())),
            _ => {
                return Err(ApiError::field(
                    "body",
                    "must carry exactly one of link, code",
                ));
            }
        };
        match code {
            Some(c)
                if !c.is_empty()
                    && c.len() <= INVITE_CODE_MAX
                    && c.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Ok(c.to_string())
            }
            _ if field == "link" => Err(ApiError::field(
                "link",
                format!("must be an invite link ({INVITE_PREFIX}...)"),
            )),
            _ => Err(ApiError::field(
                "code",
                format!("must be 1-{INVITE_CODE_MAX} letters and digits"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinGroupResponse {
    pub jid: String,
    /// The group asks its admins to approve new members: not a member until they do.
    pub pending_approval: bool,
}

/// `data` of a `group.participants` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupParticipantsData {
    /// The group JID.
    pub group: String,
    pub action: ParticipantAction,
    /// Phone digits (or JIDs without one).
    pub participants: Vec<String>,
    /// Who did it (an admin, or the participant who joined or left), when WhatsApp says.
    pub by: Option<String>,
}

/// `data` of a `group.updated` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupUpdatedData {
    pub group: String,
    pub by: Option<String>,
    pub changes: GroupChanges,
}

/// The code of an invite link as WhatsApp's apps share it: `https://chat.whatsapp.com/CODE`
/// (or `http://`, `.../invite/CODE`, with a trailing `/` or query).
fn invite_code_of(link: &str) -> Option<&str> {
    let rest = link.trim();
    let rest = rest
        .strip_prefix("https://")
        .or_else(|| rest.strip_prefix("http://"))?
        .strip_prefix("chat.whatsapp.com/")?;
    let rest = rest.strip_prefix("invite/").unwrap_or(rest);
    let code = rest.split(['?', '#']).next()?.trim_end_matches('/');
    Some(code)
}

fn check_subject(subject: &str) -> Result<(), &'static str> {
    let chars = subject.chars().count();
    if chars == 0 || chars > GROUP_SUBJECT_MAX_CHARS {
        Err("must be 1-100 characters")
    } else {
        Ok(())
    }
}

/// Phone digits of `raw` (numbers or `@s.whatsapp.net` JIDs), deduplicated in order; each
/// bad entry is named by its index.
fn phones(field: &str, raw: &[String], min: usize, errors: &mut FieldErrors) -> Vec<String> {
    if raw.len() < min || raw.len() > GROUP_PARTICIPANTS_PER_CALL {
        errors.insert(
            field.into(),
            format!("must list {min}-{GROUP_PARTICIPANTS_PER_CALL} phone numbers"),
        );
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let user = entry.strip_suffix("@s.whatsapp.net").unwrap_or(entry);
        match normalize_phone(user) {
            Some(digits) if !out.contains(&digits) => out.push(digits),
            Some(_) => {}
            None => {
                errors.insert(
                    format!("{field}[{i}]"),
                    "must be a phone number with country code (10-15 digits)".into(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_jids_are_checked_on_the_decoded_id() {
        assert_eq!(
            parse_group_jid("120363041234567890").unwrap(),
            "120363041234567890@g.us"
        );
        assert_eq!(
            parse_group_jid("971501234567-1600000000@g.us").unwrap(),
            "971501234567-1600000000@g.us"
        );
        for bad in [
            "971501234567@s.whatsapp.net",
            "abc@g.us",
            "",
            "1@g.us/../x",
            "1@lid",
        ] {
            assert!(parse_group_jid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn participants_are_bounded_and_deduplicated() {
        let many = ParticipantsRequest {
            action: ParticipantAction::Add,
            participants: (0..257).map(|i| format!("97150{i:07}")).collect(),
        };
        assert!(many.validate().is_err());
        let none = ParticipantsRequest {
            action: ParticipantAction::Add,
            participants: vec![],
        };
        assert!(none.validate().is_err());
        let twice = ParticipantsRequest {
            action: ParticipantAction::Remove,
            participants: vec![
                "+971 50 123 4567".into(),
                "971501234567@s.whatsapp.net".into(),
            ],
        };
        assert_eq!(twice.validate().unwrap(), vec!["971501234567"]);
        let bad = ParticipantsRequest {
            action: ParticipantAction::Add,
            participants: vec!["971501234567".into(), "hello".into()],
        };
        let details = bad.validate().unwrap_err().details.unwrap();
        assert!(details.contains_key("participants[1]"), "{details:?}");
    }

    #[test]
    fn changes_need_one_field_within_limits() {
        assert!(GroupChanges::default().validate().is_err());
        let long = GroupChanges {
            subject: Some("x".repeat(101)),
            ephemeral_seconds: Some(5),
            ..Default::default()
        };
        let details = long.validate().unwrap_err().details.unwrap();
        assert!(details.contains_key("subject") && details.contains_key("ephemeralSeconds"));
        let ok = GroupChanges {
            subject: Some("  Team  ".into()),
            description: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(ok.validate().unwrap().subject.as_deref(), Some("Team"));
    }

    #[test]
    fn invites_are_a_link_or_a_code() {
        let link = JoinGroupRequest {
            link: Some("https://chat.whatsapp.com/AbC123xyz".into()),
            code: None,
        };
        assert_eq!(link.validate().unwrap(), "AbC123xyz");
        for shared in [
            "http://chat.whatsapp.com/invite/AbC123xyz/",
            "https://chat.whatsapp.com/AbC123xyz?utm=x",
        ] {
            let link = JoinGroupRequest {
                link: Some(shared.into()),
                code: None,
            };
            assert_eq!(link.validate().unwrap(), "AbC123xyz", "{shared}");
        }
        for bad in [
            JoinGroupRequest::default(),
            JoinGroupRequest {
                link: Some("https://evil.example/AbC".into()),
                code: None,
            },
            JoinGroupRequest {
                link: None,
                code: Some("../x".into()),
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_account_role_is_found_by_phone_or_lid() {
        let facts = GroupFacts {
            jid: "1@g.us".into(),
            subject: "Team".into(),
            participants: vec![
                GroupParticipant {
                    jid: "971500000001@s.whatsapp.net".into(),
                    phone: Some("971500000001".into()),
                    role: GroupRole::Superadmin,
                },
                GroupParticipant {
                    jid: "555@lid".into(),
                    phone: None,
                    role: GroupRole::Admin,
                },
            ],
            ..Default::default()
        };
        let info = facts.clone().into_info(&["555".into()]);
        assert!(info.is_admin && !info.is_super_admin && info.participant_count == 2);
        let stranger = facts.into_info(&["971509999999".into()]);
        assert!(!stranger.is_admin);
        assert_eq!(stranger.name, "Team");
    }
}
