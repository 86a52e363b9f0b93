//! Looking people up on the real engine: usync (registered, LID, business, about,
//! picture id), the profile-picture IQ, and the library's LID ↔ phone store.

use async_trait::async_trait;
use wagate_api::ContactInfo;
use whatsapp_rust::prelude::*;

use super::WhatsAppEngine;
use crate::engine::{ContactDirectory, EngineError};

fn lookup_failed(e: impl std::fmt::Display) -> EngineError {
    EngineError::Transient(format!("contact lookup failed: {e}"))
}

fn parse_jid(jid: &str) -> Result<Jid, EngineError> {
    jid.parse()
        .map_err(|_| EngineError::Permanent(format!("not a JID: {jid}")))
}

#[async_trait]
impl ContactDirectory for WhatsAppEngine {
    async fn contact(&self, jid: &str) -> Result<ContactInfo, EngineError> {
        let client = self.inner.client().await?;
        let target = parse_jid(jid)?;
        let contacts = client.contacts();
        let found = contacts
            .is_on_whatsapp(std::slice::from_ref(&target))
            .await
            .map_err(lookup_failed)?
            .into_iter()
            .next();
        let mut phone = if target.server == Server::Pn {
            Some(target.user.to_string())
        } else {
            found
                .as_ref()
                .and_then(|r| r.pn_jid.as_ref())
                .map(|j| j.user.to_string())
        };
        if phone.is_none()
            && let Ok(Some(entry)) = client.get_lid_pn_entry(&target).await
        {
            phone = Some(entry.phone_number.to_string());
        }
        let lid = match &found {
            Some(r) => r.lid.as_ref().map(|j| j.to_string()),
            None => None,
        }
        .or_else(|| (target.server == Server::Lid).then(|| target.to_string()));
        let Some(registered) = found.filter(|r| r.is_registered) else {
            return Ok(ContactInfo {
                jid: jid.to_string(),
                phone,
                lid,
                ..Default::default()
            });
        };
        // What privacy settings may hide is asked separately: a refusal leaves it null.
        let info = contacts
            .get_user_info(std::slice::from_ref(&target))
            .await
            .ok()
            .and_then(|mut users| users.drain().map(|(_, u)| u).next());
        let picture = contacts
            .get_profile_picture(&target, false)
            .await
            .ok()
            .flatten();
        Ok(ContactInfo {
            jid: registered.jid.to_string(),
            phone,
            lid,
            on_whats_app: true,
            push_name: None,
            about: info
                .as_ref()
                .and_then(|u| u.status.clone())
                .filter(|s| !s.is_empty()),
            is_business: registered.is_business || info.as_ref().is_some_and(|u| u.is_business),
            verified_name: registered
                .verified_name
                .as_ref()
                .and_then(|v| v.name.clone()),
            profile_picture_url: picture.map(|p| p.url),
        })
    }

    async fn lid_phone(&self, lid: &str) -> Result<Option<String>, EngineError> {
        let client = self.inner.client().await?;
        let target = parse_jid(lid)?;
        if let Ok(Some(entry)) = client.get_lid_pn_entry(&target).await {
            return Ok(Some(entry.phone_number.to_string()));
        }
        // Not seen yet: WhatsApp answers a LID query with the phone when it may tell.
        let found = client
            .contacts()
            .is_on_whatsapp(std::slice::from_ref(&target))
            .await
            .map_err(lookup_failed)?;
        Ok(found
            .iter()
            .find_map(|r| r.pn_jid.as_ref())
            .map(|j| j.user.to_string()))
    }
}
