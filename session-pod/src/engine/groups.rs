//! What an account can do to groups besides messaging them: create, read, change, manage
//! members and invite links, join and leave. Both engines implement it; the answers are
//! the contract's types, as WhatsApp's rules decide them (admin rights, per-number codes).

use async_trait::async_trait;
use wagate_api::{
    GroupChanges, GroupInfo, JoinGroupResponse, ParticipantAction, ParticipantResult,
};

use super::EngineError;

#[async_trait]
pub trait GroupAdmin: Send + Sync {
    /// The group with full JID `group` (`GroupNotFound` when this account is not in it).
    async fn group_info(&self, group: &str) -> Result<GroupInfo, EngineError>;
    /// A new group with this account as its superadmin and `participants` (phone digits)
    /// added where their privacy settings allow.
    async fn create_group(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupInfo, EngineError>;
    /// Applies `changes` (validated) in the order subject, description, announce, locked,
    /// ephemeral.
    async fn update_group(&self, group: &str, changes: &GroupChanges) -> Result<(), EngineError>;
    /// One result per number, in the order asked.
    async fn group_participants(
        &self,
        group: &str,
        action: ParticipantAction,
        participants: &[String],
    ) -> Result<Vec<ParticipantResult>, EngineError>;
    /// The group's invite code; `reset` revokes the current one and answers the new one.
    async fn invite_code(&self, group: &str, reset: bool) -> Result<String, EngineError>;
    /// Joins the group of invite `code`.
    async fn join_group(&self, code: &str) -> Result<JoinGroupResponse, EngineError>;
    async fn leave_group(&self, group: &str) -> Result<(), EngineError>;
}

/// Whether `changes` need an admin: announce and locked always; the subject, description
/// and disappearing-message timer when the group is `locked` (WhatsApp's "edit group
/// settings: only admins").
pub fn changes_need_admin(changes: &GroupChanges, locked: bool) -> bool {
    changes.announce.is_some()
        || changes.locked.is_some()
        || (locked
            && (changes.subject.is_some()
                || changes.description.is_some()
                || changes.ephemeral_seconds.is_some()))
}
