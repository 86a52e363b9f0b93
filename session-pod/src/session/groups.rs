//! Group administration, in the runtime's words: each call needs a connected account and
//! goes straight to WhatsApp (nothing here is queued: WhatsApp answers at once, and an
//! unanswered change is safe to ask again).

use wagate_api::{
    GroupChanges, GroupInfo, InviteLinkResponse, JoinGroupResponse, ParticipantAction,
    ParticipantsResponse,
};

use super::{Session, SessionError};

impl Session {
    #[tracing::instrument(skip_all, fields(session = %self.id, group))]
    pub async fn group_info(&self, group: &str) -> Result<GroupInfo, SessionError> {
        self.require_connected()?;
        self.engine
            .group_admin()
            .group_info(group)
            .await
            .map_err(|e| self.engine_error(e))
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn create_group(
        &self,
        subject: &str,
        participants: &[String],
    ) -> Result<GroupInfo, SessionError> {
        self.require_connected()?;
        self.engine
            .group_admin()
            .create_group(subject, participants)
            .await
            .map_err(|e| self.engine_error(e))
    }

    /// Applies `changes` and answers the group as it is now.
    #[tracing::instrument(skip_all, fields(session = %self.id, group))]
    pub async fn update_group(
        &self,
        group: &str,
        changes: &GroupChanges,
    ) -> Result<GroupInfo, SessionError> {
        self.require_connected()?;
        let admin = self.engine.group_admin();
        admin
            .update_group(group, changes)
            .await
            .map_err(|e| self.engine_error(e))?;
        admin
            .group_info(group)
            .await
            .map_err(|e| self.engine_error(e))
    }

    #[tracing::instrument(skip_all, fields(session = %self.id, group, action = action.as_str()))]
    pub async fn group_participants(
        &self,
        group: &str,
        action: ParticipantAction,
        participants: &[String],
    ) -> Result<ParticipantsResponse, SessionError> {
        self.require_connected()?;
        let results = self
            .engine
            .group_admin()
            .group_participants(group, action, participants)
            .await
            .map_err(|e| self.engine_error(e))?;
        Ok(ParticipantsResponse { results })
    }

    /// The group's invite link; `reset` revokes the current one first.
    #[tracing::instrument(skip_all, fields(session = %self.id, group))]
    pub async fn invite_link(
        &self,
        group: &str,
        reset: bool,
    ) -> Result<InviteLinkResponse, SessionError> {
        self.require_connected()?;
        let code = self
            .engine
            .group_admin()
            .invite_code(group, reset)
            .await
            .map_err(|e| self.engine_error(e))?;
        Ok(InviteLinkResponse::from_code(code))
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn join_group(&self, code: &str) -> Result<JoinGroupResponse, SessionError> {
        self.require_connected()?;
        self.engine
            .group_admin()
            .join_group(code)
            .await
            .map_err(|e| self.engine_error(e))
    }

    #[tracing::instrument(skip_all, fields(session = %self.id, group))]
    pub async fn leave_group(&self, group: &str) -> Result<(), SessionError> {
        self.require_connected()?;
        self.engine
            .group_admin()
            .leave_group(group)
            .await
            .map_err(|e| self.engine_error(e))
    }
}
