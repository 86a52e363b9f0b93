//! The account's own profile and the people it blocks, in the runtime's words.

use wagate_api::{Blocklist, Profile, ProfileUpdate, Recipient};

use super::{Session, SessionError};
use crate::profile_picture::{self, PictureError};

/// One picture is decoded and resized at a time, whatever the number of sessions.
static PREPARING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

impl Session {
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn profile(&self) -> Result<Profile, SessionError> {
        self.require_connected()?;
        self.engine
            .profile()
            .profile()
            .await
            .map_err(|e| self.engine_error(e))
    }

    /// Applies `update` (already validated) and answers the profile as it now is.
    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn update_profile(&self, update: &ProfileUpdate) -> Result<Profile, SessionError> {
        self.require_connected()?;
        let profile = self.engine.profile();
        if let Some(name) = &update.push_name {
            profile
                .set_push_name(name.trim())
                .await
                .map_err(|e| self.engine_error(e))?;
            // The library announces the new name with an "available" presence.
            self.show_presence().await;
        }
        if let Some(about) = &update.about {
            profile
                .set_about(about)
                .await
                .map_err(|e| self.engine_error(e))?;
        }
        self.profile().await
    }

    /// Crops and resizes `image` (JPEG or PNG) to WhatsApp's picture and sets it.
    #[tracing::instrument(skip_all, fields(session = %self.id, bytes = image.len()))]
    pub async fn set_profile_picture(&self, image: Vec<u8>) -> Result<Profile, SessionError> {
        self.require_connected()?;
        // Decoding and resizing a large photo takes a while and tens of MiB: off the async
        // workers, and one picture at a time in the whole process.
        let _turn = PREPARING.acquire().await.expect("never closed");
        let jpeg = tokio::task::spawn_blocking(move || profile_picture::prepare(&image))
            .await
            .map_err(|e| SessionError::Upstream(format!("picture preparation failed: {e}")))?
            .map_err(|e: PictureError| SessionError::Invalid {
                field: "picture",
                why: e.to_string(),
            })?;
        self.engine
            .profile()
            .set_picture(jpeg)
            .await
            .map_err(|e| self.engine_error(e))?;
        self.profile().await
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn remove_profile_picture(&self) -> Result<(), SessionError> {
        self.require_connected()?;
        self.engine
            .profile()
            .remove_picture()
            .await
            .map_err(|e| self.engine_error(e))
    }

    /// Blocks (`block: true`) or unblocks `who`, and answers the blocklist after it.
    #[tracing::instrument(skip_all, fields(session = %self.id, block))]
    pub async fn set_blocked(
        &self,
        who: &Recipient,
        block: bool,
    ) -> Result<Blocklist, SessionError> {
        self.require_connected()?;
        let contacts = self.engine.contacts();
        let done = if block {
            contacts.block(&who.jid()).await
        } else {
            contacts.unblock(&who.jid()).await
        };
        done.map_err(|e| self.engine_error(e))?;
        self.blocklist().await
    }

    #[tracing::instrument(skip_all, fields(session = %self.id))]
    pub async fn blocklist(&self) -> Result<Blocklist, SessionError> {
        self.require_connected()?;
        let blocked = self
            .engine
            .contacts()
            .blocklist()
            .await
            .map_err(|e| self.engine_error(e))?;
        Ok(Blocklist { blocked })
    }
}
