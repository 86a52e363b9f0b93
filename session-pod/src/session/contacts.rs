//! Looking people up, in the runtime's words: WhatsApp's answer plus the push name this
//! session last saw them use.

use wagate_api::{ContactInfo, LidInfo, Recipient};

use super::{Session, SessionError};

impl Session {
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn contact(&self, who: &Recipient) -> Result<ContactInfo, SessionError> {
        self.require_connected()?;
        let mut info = self
            .engine
            .contacts()
            .contact(&who.jid())
            .await
            .map_err(|e| self.engine_error(e))?;
        let sender = info.phone.clone().unwrap_or_else(|| who.jid());
        info.push_name = self.store.push_name(sender).await?;
        Ok(info)
    }

    /// The phone behind `lid` (a full `...@lid` JID); `LidUnknown` when WhatsApp does not
    /// say.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn resolve_lid(&self, lid: &str) -> Result<LidInfo, SessionError> {
        self.require_connected()?;
        let phone = self
            .engine
            .contacts()
            .lid_phone(lid)
            .await
            .map_err(|e| self.engine_error(e))?
            .ok_or_else(|| SessionError::LidUnknown(lid.to_string()))?;
        Ok(LidInfo {
            lid: lid.to_string(),
            phone,
        })
    }
}
