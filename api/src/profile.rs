//! This account's own profile (name, about, picture) and the people it blocks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, FieldErrors};

/// The longest name WhatsApp's apps let a person set.
pub const PUSH_NAME_MAX_CHARS: usize = 25;
/// The longest "about" text WhatsApp's apps let a person set.
pub const ABOUT_MAX_CHARS: usize = 139;

/// `GET .../profile`: this account as others see it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Phone digits of the linked number.
    pub phone: Option<String>,
    /// The account's LID (`digits@lid`), when WhatsApp gave one.
    pub lid: Option<String>,
    /// The name others see beside the number.
    pub push_name: Option<String>,
    pub about: Option<String>,
    /// Where the profile picture can be downloaded; `null` without one.
    pub profile_picture_url: Option<String>,
}

/// `PATCH .../profile`: what to change; fields left out stay as they are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileUpdate {
    /// 1-25 characters.
    pub push_name: Option<String>,
    /// 0-139 characters (`""` clears it).
    pub about: Option<String>,
}

impl ProfileUpdate {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut errors = FieldErrors::new();
        if self.push_name.is_none() && self.about.is_none() {
            errors.insert("body".into(), "must set pushName or about".into());
        }
        if let Some(name) = &self.push_name {
            let chars = name.trim().chars().count();
            if chars == 0 || chars > PUSH_NAME_MAX_CHARS || name.chars().any(char::is_control) {
                errors.insert(
                    "pushName".into(),
                    format!("must be 1-{PUSH_NAME_MAX_CHARS} characters, no control characters"),
                );
            }
        }
        if let Some(about) = &self.about
            && (about.chars().count() > ABOUT_MAX_CHARS
                || about.chars().any(|c| c.is_control() && c != '\n'))
        {
            errors.insert(
                "about".into(),
                format!("must be at most {ABOUT_MAX_CHARS} characters"),
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// `PUT .../profile/picture` as JSON (the image may also be the request body itself, as
/// `image/jpeg` or `image/png`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PictureUpload {
    /// A JPEG or PNG, base64.
    pub data: String,
}

/// Someone this account blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockedContact {
    /// As WhatsApp lists them (a LID, or a phone JID).
    pub jid: String,
    /// Phone digits, when the session knows them.
    pub phone: Option<String>,
    /// `digits@lid`, when known.
    pub lid: Option<String>,
}

/// `GET .../blocklist`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct Blocklist {
    pub blocked: Vec<BlockedContact>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(push_name: Option<&str>, about: Option<&str>) -> ProfileUpdate {
        ProfileUpdate {
            push_name: push_name.map(str::to_string),
            about: about.map(str::to_string),
        }
    }

    #[test]
    fn names_and_abouts_are_held_to_whatsapps_limits() {
        assert!(update(Some("Coach Ann"), None).validate().is_ok());
        assert!(update(None, Some("")).validate().is_ok());
        assert!(update(None, Some(&"a".repeat(139))).validate().is_ok());
        assert!(update(Some(&"ü".repeat(25)), None).validate().is_ok());
        for bad in [
            update(None, None),
            update(Some(""), None),
            update(Some("   "), None),
            update(Some(&"a".repeat(26)), None),
            update(Some("a\u{0}b"), None),
            update(None, Some(&"a".repeat(140))),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
