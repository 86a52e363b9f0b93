//! Looking people up on the real engine: usync (registered, LID, business, about,
//! picture id), the profile-picture IQ, and the library's LID ↔ phone store.

use async_trait::async_trait;
use wagate_api::{BlockedContact, ContactInfo, NumberCheck};
use whatsapp_rust::lid_pn_cache::LearningSource;
use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::iq::usync::{
    UsyncAddressingMode, UsyncContext, UsyncMode, UsyncOutcome, UsyncProtocol, UsyncProtocolKind,
    UsyncProtocolResult, UsyncQuery, UsyncQuerySpec, UsyncUser, UsyncUserResult,
};

use super::WhatsAppEngine;
use super::profile::refused;
use crate::engine::{ContactDirectory, EngineError};

fn lookup_failed(e: impl std::fmt::Display) -> EngineError {
    EngineError::Transient(format!("contact lookup failed: {e}"))
}

fn parse_jid(jid: &str) -> Result<Jid, EngineError> {
    jid.parse()
        .map_err(|_| EngineError::Permanent(format!("not a JID: {jid}")))
}

/// Who of `numbers` (digits) is on WhatsApp, in one usync query. WhatsApp answers each
/// with its canonical JID, which need not be the number asked (a Brazilian mobile asked
/// with its ninth digit may be registered without it), and echoes the number asked in
/// `<contact>`: that echo, not the JID, matches an answer back to the request. The JID
/// answered is the one to send to.
pub(super) async fn check_numbers(
    client: &Client,
    numbers: &[String],
) -> Result<Vec<NumberCheck>, EngineError> {
    let users = numbers.iter().map(UsyncUser::from_phone).collect();
    let query = UsyncQuery::new(
        UsyncMode::Query,
        UsyncContext::Interactive,
        vec![
            UsyncProtocol::Contact {
                addressing_mode: UsyncAddressingMode::Pn,
            },
            UsyncProtocol::Lid,
            UsyncProtocol::BusinessVerifiedName,
        ],
        users,
    )
    .and_then(|q| UsyncQuerySpec::new(q, uuid::Uuid::new_v4().simple().to_string()))
    .map_err(|e| EngineError::Permanent(format!("number check query: {e}")))?;
    let answer = client
        .execute(query)
        .await
        .map_err(|e| EngineError::Transient(format!("number check failed: {e}")))?;
    // A refused lookup (a rate limit, a server error) is no answer: "not on WhatsApp" would
    // fail a message for good.
    let refusals =
        answer
            .protocol_states
            .iter()
            .filter(|s| s.protocol == UsyncProtocolKind::Contact)
            .filter_map(|s| s.error.as_ref())
            .chain(answer.users.iter().filter_map(
                |u| match u.protocol(UsyncProtocolKind::Contact) {
                    Some(UsyncProtocolResult::Contact(UsyncOutcome::Error(e))) => Some(&**e),
                    _ => None,
                },
            ));
    if let Some(refusal) = refusals.into_iter().next() {
        return Err(match refusal.code {
            Some(429) => EngineError::RateLimited,
            code => EngineError::Transient(format!(
                "WhatsApp did not answer the number lookup (code {code:?})"
            )),
        });
    }
    for user in &answer.users {
        learn_lid(client, user).await;
    }
    Ok(numbers
        .iter()
        .map(|number| {
            let hit = answer
                .users
                .iter()
                .find(|u| asked_number(u).as_deref() == Some(number.as_str()))
                .or_else(|| {
                    answer
                        .users
                        .iter()
                        .find(|u| u.id.as_ref().is_some_and(|j| j.user == number.as_str()))
                })
                // One number asked and one answer without the echo: it is that number's.
                .or_else(|| match (numbers, answer.users.as_slice()) {
                    ([_], [only]) if asked_number(only).is_none() => Some(only),
                    _ => None,
                });
            let registered = hit.filter(|u| {
                matches!(
                    u.protocol(UsyncProtocolKind::Contact),
                    Some(UsyncProtocolResult::Contact(UsyncOutcome::Value(c))) if c.contact_type == "in"
                )
            });
            let business = registered.and_then(|u| match u.protocol(UsyncProtocolKind::Business) {
                Some(UsyncProtocolResult::Business(UsyncOutcome::Value(b))) => Some(b),
                _ => None,
            });
            NumberCheck {
                number: number.clone(),
                on_whats_app: registered.is_some(),
                jid: registered
                    .and_then(|u| u.id.as_ref().filter(|j| j.is_pn()).or(u.pn_jid.as_ref()))
                    .map(|j| j.to_non_ad().to_string())
                    .or_else(|| registered.map(|_| format!("{number}@s.whatsapp.net"))),
                is_business: business.is_some(),
                verified_name: business
                    .and_then(|b| b.verified_name.as_ref())
                    .and_then(|v| v.name.clone()),
            }
        })
        .collect())
}

/// The digits of the number a usync answer echoes in `<contact>`.
fn asked_number(user: &UsyncUserResult) -> Option<String> {
    match user.protocol(UsyncProtocolKind::Contact) {
        Some(UsyncProtocolResult::Contact(UsyncOutcome::Value(contact))) => contact
            .content
            .as_deref()
            .map(|c| c.chars().filter(char::is_ascii_digit).collect()),
        _ => None,
    }
}

/// Keeps a LID ↔ phone pair a usync answer told, as the library's own lookups do, so later
/// LID-addressed messages resolve to the phone.
async fn learn_lid(client: &Client, user: &UsyncUserResult) {
    let Some(pn) = user.id.as_ref().filter(|j| j.is_pn()) else {
        return;
    };
    if let Some(UsyncProtocolResult::Lid(UsyncOutcome::Value(Some(lid)))) =
        user.protocol(UsyncProtocolKind::Lid)
        && let Err(e) = client
            .add_lid_pn_mapping(&lid.user, &pn.user, LearningSource::Usync)
            .await
    {
        tracing::debug!(error = %e, "cannot keep a LID mapping");
    }
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

    async fn block(&self, jid: &str) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        let target = known_person(&client, jid).await?;
        client
            .blocking()
            .block(&target)
            .await
            .map_err(|e| refused(e, "the block"))
    }

    async fn unblock(&self, jid: &str) -> Result<(), EngineError> {
        let client = self.inner.client().await?;
        // WhatsApp unblocks by LID alone: a listed LID need not resolve to a phone.
        let target = match parse_jid(jid)? {
            lid if lid.is_lid() => lid,
            _ => known_person(&client, jid).await?,
        };
        client
            .blocking()
            .unblock(&target)
            .await
            .map_err(|e| refused(e, "the unblock"))
    }

    async fn blocklist(&self) -> Result<Vec<BlockedContact>, EngineError> {
        let client = self.inner.client().await?;
        let entries = client
            .blocking()
            .get_blocklist()
            .await
            .map_err(|e| refused(e, "the blocklist"))?;
        let mut blocked = Vec::with_capacity(entries.len());
        for entry in entries {
            let jid = entry.jid.to_non_ad();
            let mapping = client.get_lid_pn_entry(&jid).await.ok().flatten();
            let (phone, lid) = if jid.is_lid() {
                (
                    mapping.map(|m| m.phone_number.to_string()),
                    Some(jid.to_string()),
                )
            } else {
                (
                    Some(jid.user.to_string()),
                    mapping.map(|m| Jid::lid(&*m.lid).to_string()),
                )
            };
            blocked.push(BlockedContact {
                jid: jid.to_string(),
                phone,
                lid,
            });
        }
        Ok(blocked)
    }
}

/// `jid` with its LID ↔ phone pair known to the library, which blocking needs (WhatsApp
/// blocks by LID and wants the phone beside it): a usync lookup teaches the pair the
/// first time. `NotOnWhatsApp` when WhatsApp does not know the person.
async fn known_person(client: &Client, jid: &str) -> Result<Jid, EngineError> {
    let target = parse_jid(jid)?;
    if let Ok(Some(_)) = client.get_lid_pn_entry(&target).await {
        return Ok(target);
    }
    if target.is_pn() {
        // The number as WhatsApp registered it (a dialled form differs for some Brazilian
        // mobiles); the lookup teaches the library its LID.
        let check = check_numbers(client, &[target.user.to_string()])
            .await?
            .pop()
            .and_then(|c| c.jid);
        return match check {
            Some(canonical) => parse_jid(&canonical),
            None => Err(EngineError::NotOnWhatsApp(target.user.to_string())),
        };
    }
    let found = client
        .contacts()
        .is_on_whatsapp(std::slice::from_ref(&target))
        .await
        .map_err(lookup_failed)?;
    if !found.iter().any(|r| r.is_registered) {
        return Err(EngineError::NotOnWhatsApp(phone_or_lid(&target)));
    }
    Ok(target)
}

fn phone_or_lid(jid: &Jid) -> String {
    if jid.is_pn() {
        jid.user.to_string()
    } else {
        jid.to_string()
    }
}
