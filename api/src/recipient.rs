//! Who a message goes to: a phone number (E.164 digits) or a full JID.

use std::fmt;

use crate::ApiError;

pub const USER_SERVER: &str = "s.whatsapp.net";
pub const GROUP_SERVER: &str = "g.us";
pub const LID_SERVER: &str = "lid";
pub const PHONE_RULE: &str = "must be a phone number with country code (10-15 digits; '+', spaces, dashes, dots and parentheses are ignored) or a JID like 971501234567@s.whatsapp.net or 1203630@g.us";

/// Normalises what people type (`+971 50-123 4567`) to E.164 digits (`971501234567`).
/// Returns `None` when what is left is not 10-15 digits.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    (10..=15).contains(&digits.len()).then_some(digits)
}

/// A validated recipient.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A person, by phone number digits.
    User(String),
    /// A group, by the user part of its `@g.us` JID (`120363...` or the legacy `owner-ts`).
    Group(String),
    /// A person by their hidden-identity `@lid` JID.
    Lid(String),
}

impl Recipient {
    /// Parses the `to` field of a send (or one entry of a number check).
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        Self::parse_inner(raw).ok_or_else(|| ApiError::field("to", PHONE_RULE))
    }

    fn parse_inner(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let Some((user, server)) = raw.split_once('@') else {
            return normalize_phone(raw).map(Self::User);
        };
        // The device part (`:12`) never belongs in a recipient.
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match server {
            USER_SERVER | "c.us" => normalize_phone(user).map(Self::User),
            GROUP_SERVER => {
                let ok = match user.split_once('-') {
                    Some((owner, ts)) => all_digits(owner) && all_digits(ts),
                    None => all_digits(user),
                } && user.len() <= 40;
                ok.then(|| Self::Group(user.to_string()))
            }
            LID_SERVER => {
                (all_digits(user) && user.len() <= 20).then(|| Self::Lid(user.to_string()))
            }
            _ => None,
        }
    }

    /// The full JID string WhatsApp addresses.
    pub fn jid(&self) -> String {
        match self {
            Self::User(digits) => format!("{digits}@{USER_SERVER}"),
            Self::Group(id) => format!("{id}@{GROUP_SERVER}"),
            Self::Lid(id) => format!("{id}@{LID_SERVER}"),
        }
    }

    /// Phone digits for a person, `None` for groups and LIDs.
    pub fn phone(&self) -> Option<&str> {
        match self {
            Self::User(digits) => Some(digits),
            _ => None,
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, Self::Group(_))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.jid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_typed_numbers() {
        assert_eq!(
            normalize_phone("+971 50-123 4567").as_deref(),
            Some("971501234567")
        );
        assert_eq!(
            normalize_phone("(971) 50.123.4567").as_deref(),
            Some("971501234567")
        );
        assert_eq!(
            normalize_phone("5511999999999").as_deref(),
            Some("5511999999999")
        );
    }

    #[test]
    fn rejects_wrong_lengths_and_letters() {
        for bad in [
            "",
            "+",
            "123456789",
            "1234567890123456",
            "97150abc4567",
            "++971501234567",
        ] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_jids() {
        assert_eq!(
            Recipient::parse("971501234567@s.whatsapp.net").unwrap(),
            Recipient::User("971501234567".into())
        );
        assert_eq!(
            Recipient::parse("120363025246125888@g.us").unwrap().jid(),
            "120363025246125888@g.us"
        );
        assert_eq!(
            Recipient::parse("5511999999999-1445520000@g.us")
                .unwrap()
                .jid(),
            "5511999999999-1445520000@g.us"
        );
        assert!(Recipient::parse("123@s.whatsapp.net").is_err());
        assert!(Recipient::parse("abc@g.us").is_err());
        assert!(Recipient::parse("971501234567@example.com").is_err());
        assert!(Recipient::parse("971501234567:3@s.whatsapp.net").is_err());
    }

    #[test]
    fn error_names_the_field_and_rule() {
        let err = Recipient::parse("hello").unwrap_err();
        assert_eq!(err.details.unwrap()["to"], PHONE_RULE);
    }
}
