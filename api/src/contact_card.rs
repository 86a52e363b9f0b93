//! Contacts to send (`SendRequest.contacts`): each becomes a vCard 3.0, what WhatsApp's apps
//! read (built by `vcard-rs`, which escapes the values), or is a vCard passed through as is.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vcard::builder::VcardBuilder;
use vcard::param::VcardParam;
use vcard::prop::email::EMAIL;
use vcard::prop::r#fn::FN;
use vcard::prop::n::N;
use vcard::prop::org::ORG;
use vcard::prop::tel::TEL;
use vcard::value::VcardValue;
use vcard::value::n::VcardN;
use vcard::value::org::VcardOrg;
use vcard::value::text::VcardText;
use vcard::version::VcardVersion;

use crate::{FieldErrors, normalize_phone};

/// Contacts one message may carry.
pub const CONTACTS_MAX: usize = 20;
/// Phone numbers one contact may list.
pub const PHONES_MAX: usize = 10;
const NAME_MAX: usize = 256;
/// Largest vCard passed through as is.
pub const VCARD_MAX: usize = 64 * 1024;

/// One contact card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactSpec {
    /// The name shown on the card.
    pub full_name: String,
    /// Numbers with country code; each gets WhatsApp's `waid`, so the card offers "Message".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<ContactPhone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A complete vCard (`BEGIN:VCARD` ... `END:VCARD`) sent as is, instead of `phones`,
    /// `organization` and `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcard: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPhone {
    pub number: String,
    /// vCard TEL type, e.g. `CELL`, `WORK`, `HOME`; `CELL` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A contact as a message carries it: the name shown and its vCard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedContact {
    pub display_name: String,
    pub vcard: String,
}

impl ContactSpec {
    /// The contact as sent, or what is wrong with it in `errors` (under `contacts[i].`).
    pub fn to_shared(&self, at: &str, errors: &mut FieldErrors) -> Option<SharedContact> {
        let before = errors.len();
        let name = self.full_name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX {
            errors.insert(
                format!("{at}.fullName"),
                format!("must be 1-{NAME_MAX} characters"),
            );
        }
        for (field, value) in [("organization", &self.organization), ("email", &self.email)] {
            if let Some(value) = value
                && (value.trim().is_empty() || value.chars().count() > NAME_MAX)
            {
                errors.insert(
                    format!("{at}.{field}"),
                    format!("must be 1-{NAME_MAX} characters"),
                );
            }
        }
        if let Some(vcard) = &self.vcard {
            let given_parts =
                !self.phones.is_empty() || self.organization.is_some() || self.email.is_some();
            let trimmed = vcard.trim();
            if given_parts {
                errors.insert(
                    format!("{at}.vcard"),
                    "give either 'vcard' or 'phones'/'organization'/'email', not both".into(),
                );
            } else if vcard.len() > VCARD_MAX
                || !trimmed.to_ascii_uppercase().starts_with("BEGIN:VCARD")
                || !trimmed.to_ascii_uppercase().ends_with("END:VCARD")
            {
                errors.insert(
                    format!("{at}.vcard"),
                    format!(
                        "must be one vCard (BEGIN:VCARD ... END:VCARD) of at most {VCARD_MAX} bytes"
                    ),
                );
            }
            return (errors.len() == before).then(|| SharedContact {
                display_name: name.to_string(),
                vcard: trimmed.to_string(),
            });
        }
        if self.phones.is_empty() || self.phones.len() > PHONES_MAX {
            errors.insert(
                format!("{at}.phones"),
                format!("must list 1-{PHONES_MAX} numbers (or give 'vcard')"),
            );
        }
        let mut phones = Vec::with_capacity(self.phones.len());
        for (i, phone) in self.phones.iter().enumerate() {
            match normalize_phone(&phone.number) {
                Some(digits) => phones.push((digits, phone)),
                None => {
                    errors.insert(
                        format!("{at}.phones[{i}].number"),
                        "must be a phone number with country code (10-15 digits)".into(),
                    );
                }
            }
            if let Some(label) = &phone.label
                && (label.is_empty()
                    || label.len() > 32
                    || !label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            {
                errors.insert(
                    format!("{at}.phones[{i}].label"),
                    "must be 1-32 letters, digits or '-' (e.g. CELL, WORK)".into(),
                );
            }
        }
        if errors.len() != before {
            return None;
        }
        Some(SharedContact {
            display_name: name.to_string(),
            vcard: self.build_vcard(name, &phones),
        })
    }

    /// A vCard 3.0 as WhatsApp's apps write one: `FN`, `N`, a `TEL` with `waid` per number,
    /// `ORG`, `EMAIL`.
    fn build_vcard(&self, name: &str, phones: &[(String, &ContactPhone)]) -> String {
        let mut card = VcardBuilder::new(VcardVersion::V3_0)
            .prop::<FN>()
            .value(VcardValue::Text(VcardText::from(name)))
            .prop::<N>()
            .value(VcardValue::N(VcardN {
                given: vec![Cow::Borrowed(name)],
                ..Default::default()
            }));
        for (digits, phone) in phones {
            let label = phone.label.as_deref().unwrap_or("CELL");
            card = card
                .prop::<TEL>()
                .param(VcardParam::Type(vec![Cow::Borrowed(label)]))
                .param(VcardParam::Unknown {
                    name: Cow::Borrowed("waid"),
                    values: vec![Cow::Borrowed(digits.as_str())],
                })
                .value(VcardValue::Text(VcardText::from(format!("+{digits}"))));
        }
        if let Some(organization) = &self.organization {
            card = card
                .prop::<ORG>()
                .value(VcardValue::Org(VcardOrg(vec![Cow::Borrowed(
                    organization.as_str(),
                )])));
        }
        if let Some(email) = &self.email {
            card = card
                .prop::<EMAIL>()
                .param(VcardParam::Type(vec![Cow::Borrowed("INTERNET")]))
                .value(VcardValue::Text(VcardText::from(email.as_str())));
        }
        card.build_unchecked().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, numbers: &[&str]) -> ContactSpec {
        ContactSpec {
            full_name: name.into(),
            phones: numbers
                .iter()
                .map(|n| ContactPhone {
                    number: n.to_string(),
                    label: None,
                })
                .collect(),
            organization: None,
            email: None,
            vcard: None,
        }
    }

    #[test]
    fn builds_a_whatsapp_vcard_with_escaped_values() {
        let mut contact = spec("Ann; Admin, Sales", &["+971 50 123 4567"]);
        contact.organization = Some("Acme".into());
        contact.email = Some("ann@example.com".into());
        let mut errors = FieldErrors::new();
        let shared = contact.to_shared("contacts[0]", &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(shared.display_name, "Ann; Admin, Sales");
        let vcard = shared.vcard.replace("\r\n", "\n");
        assert!(vcard.starts_with("BEGIN:VCARD\nVERSION:3.0\n"), "{vcard}");
        assert!(vcard.contains("FN:Ann\\; Admin\\, Sales\n"), "{vcard}");
        assert!(
            vcard.contains("TEL;TYPE=CELL;waid=971501234567:+971501234567\n"),
            "{vcard}"
        );
        assert!(vcard.contains("ORG:Acme\n"), "{vcard}");
        assert!(
            vcard.contains("EMAIL;TYPE=INTERNET:ann@example.com\n"),
            "{vcard}"
        );
        assert!(vcard.trim_end().ends_with("END:VCARD"), "{vcard}");
    }

    #[test]
    fn refuses_what_would_not_make_a_card() {
        let mut errors = FieldErrors::new();
        assert!(spec("", &[]).to_shared("c", &mut errors).is_none());
        assert!(errors.contains_key("c.fullName") && errors.contains_key("c.phones"));
        let mut errors = FieldErrors::new();
        assert!(spec("Bob", &["12"]).to_shared("c", &mut errors).is_none());
        assert!(errors.contains_key("c.phones[0].number"), "{errors:?}");
        let mut both = spec("Bob", &["+971501234567"]);
        both.vcard = Some("BEGIN:VCARD\nEND:VCARD".into());
        let mut errors = FieldErrors::new();
        assert!(both.to_shared("c", &mut errors).is_none());
        assert!(errors.contains_key("c.vcard"));
        let mut raw = spec("Bob", &[]);
        raw.vcard = Some("not a card".into());
        let mut errors = FieldErrors::new();
        assert!(raw.to_shared("c", &mut errors).is_none());
        raw.vcard = Some(" BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nEND:VCARD\n".into());
        let mut errors = FieldErrors::new();
        let shared = raw.to_shared("c", &mut errors).unwrap();
        assert_eq!(shared.vcard, "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nEND:VCARD");
    }
}
