//! The account's own profile on the real engine: `whatsapp-rust`'s `profile()` calls (the
//! `status` and `w:profile:picture` IQs, the push-name presence and app-state mutation),
//! read back through usync and the profile-picture IQ (0.7 has no own-profile read).

use async_trait::async_trait;
use wagate_api::Profile;
use whatsapp_rust::ErrorChainExt;

use super::WhatsAppEngine;
use crate::engine::{EngineError, OwnProfile};

/// What a refused profile or blocklist call means: WhatsApp's 4xx are the caller's to read,
/// only server trouble is worth a retry.
pub(super) fn refused(e: impl std::error::Error + 'static, what: &str) -> EngineError {
    match e.server_rejection().map(|r| r.code) {
        Some(429) => EngineError::RateLimited,
        Some(code) if (400..500).contains(&code) => {
            EngineError::Conflict(format!("WhatsApp refused {what} (code {code})"))
        }
        _ => EngineError::Transient(format!("{what} failed: {e}")),
    }
}

#[async_trait]
impl OwnProfile for WhatsAppEngine {
    async fn profile(&self) -> Result<Profile, EngineError> {
        let client = self.inner.client().await?;
        let own = client.pn().map(|j| j.to_non_ad());
        let (about, picture) = match &own {
            Some(own) => {
                let contacts = client.contacts();
                let about = contacts
                    .get_user_info(std::slice::from_ref(own))
                    .await
                    .ok()
                    .and_then(|mut users| users.drain().map(|(_, u)| u).next())
                    .and_then(|u| u.status)
                    .filter(|s| !s.is_empty());
                let picture = contacts
                    .get_profile_picture(own, false)
                    .await
                    .ok()
                    .flatten();
                (about, picture.map(|p| p.url))
            }
            None => (None, None),
        };
        Ok(Profile {
            phone: own.as_ref().map(|j| j.user.to_string()),
            lid: client.lid().map(|j| j.to_non_ad().to_string()),
            push_name: Some(client.push_name()).filter(|n| !n.is_empty()),
            about,
            profile_picture_url: picture,
        })
    }

    async fn set_push_name(&self, name: &str) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        client
            .profile()
            .set_push_name(name)
            .await
            .map_err(|e| refused(e, "the name change"))
    }

    async fn set_about(&self, about: &str) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        client
            .profile()
            .set_status_text(about)
            .await
            .map_err(|e| refused(e, "the about change"))
    }

    async fn set_picture(&self, jpeg: Vec<u8>) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        client
            .profile()
            .set_profile_picture(jpeg)
            .await
            .map(drop)
            .map_err(|e| refused(e, "the picture"))
    }

    async fn remove_picture(&self) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        client
            .profile()
            .remove_profile_picture()
            .await
            .map(drop)
            .map_err(|e| refused(e, "the picture removal"))
    }
}
