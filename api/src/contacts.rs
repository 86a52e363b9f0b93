//! A contact as this account can see them, and LID ↔ phone resolution.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, Recipient};

/// `GET .../contacts/{phoneOrJid}`: one call for what WhatsApp shows of someone. Parts
/// their privacy settings hide are `null`, not an error.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactInfo {
    /// Their JID as WhatsApp answered it (`digits@s.whatsapp.net`, or a `@lid`).
    pub jid: String,
    /// Phone digits, when known.
    pub phone: Option<String>,
    /// Their hidden-identity JID (`digits@lid`), when WhatsApp gave one.
    pub lid: Option<String>,
    pub on_whats_app: bool,
    /// The name they set for themselves, as their last message to this account carried it.
    pub push_name: Option<String>,
    /// Their "about" text.
    pub about: Option<String>,
    pub is_business: bool,
    pub verified_name: Option<String>,
    /// Where their profile picture can be downloaded (a WhatsApp CDN URL, valid for a while).
    pub profile_picture_url: Option<String>,
}

/// `GET .../lids/{lid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LidInfo {
    pub lid: String,
    /// Phone digits.
    pub phone: String,
}

/// The `{phoneOrJid}` of a contact route: a person by phone number (or
/// `digits@s.whatsapp.net`) or by LID (`digits@lid`).
pub fn parse_contact(raw: &str) -> Result<Recipient, ApiError> {
    match Recipient::parse(raw) {
        Ok(person @ (Recipient::User(_) | Recipient::Lid(_))) => Ok(person),
        _ => Err(ApiError::field(
            "phoneOrJid",
            "must be a phone number with country code, or a ...@s.whatsapp.net or ...@lid JID",
        )),
    }
}

/// The `{lid}` of `GET .../lids/{lid}`: `digits@lid` or its digits, as the full JID.
pub fn parse_lid(raw: &str) -> Result<String, ApiError> {
    let candidate = if raw.contains('@') {
        raw.to_string()
    } else {
        format!("{raw}@lid")
    };
    match Recipient::parse(&candidate) {
        Ok(lid @ Recipient::Lid(_)) => Ok(lid.jid()),
        _ => Err(ApiError::field(
            "lid",
            "must be a LID (digits@lid, or its digits)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_people_and_lids_are_lids() {
        assert!(parse_contact("+971 50 123 4567").is_ok());
        assert!(parse_contact("123456789012345@lid").is_ok());
        assert!(parse_contact("120363000000000001@g.us").is_err());
        assert_eq!(parse_lid("123456789012345").unwrap(), "123456789012345@lid");
        for bad in ["971501234567@s.whatsapp.net", "abc", "", "1@lid/../x"] {
            assert!(parse_lid(bad).is_err(), "{bad}");
        }
    }
}
