//! Number checks, QR and pairing-code bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, FieldErrors, normalize_phone};

pub const CHECK_NUMBERS_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckNumbersRequest {
    pub numbers: Vec<String>,
}

impl CheckNumbersRequest {
    /// Normalised digits in request order; each bad entry is named by its index.
    pub fn validate(&self) -> Result<Vec<String>, ApiError> {
        if self.numbers.is_empty() || self.numbers.len() > CHECK_NUMBERS_MAX {
            return Err(ApiError::field(
                "numbers",
                format!("must list 1-{CHECK_NUMBERS_MAX} numbers"),
            ));
        }
        let mut errors = FieldErrors::new();
        let mut digits = Vec::with_capacity(self.numbers.len());
        for (i, raw) in self.numbers.iter().enumerate() {
            let user = raw.strip_suffix("@s.whatsapp.net").unwrap_or(raw);
            match normalize_phone(user) {
                Some(d) => digits.push(d),
                None => {
                    errors.insert(
                        format!("numbers[{i}]"),
                        "must be a phone number with country code (10-15 digits)".into(),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(digits)
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberCheck {
    pub number: String,
    pub on_whats_app: bool,
    pub jid: Option<String>,
    pub is_business: bool,
    pub verified_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckNumbersResponse {
    pub results: Vec<NumberCheck>,
}

/// `GET .../qr?format=json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QrJson {
    /// The raw QR payload (what the code encodes).
    pub qr: String,
    /// `data:image/png;base64,...` of the rendered code.
    pub data_url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QrLinkResponse {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairCodeRequest {
    /// The phone number of the account to link, with country code.
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairCodeResponse {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_numbers_bounds_and_indexes() {
        let empty = CheckNumbersRequest { numbers: vec![] };
        assert!(empty.validate().is_err());
        let too_many = CheckNumbersRequest {
            numbers: vec!["971501234567".into(); CHECK_NUMBERS_MAX + 1],
        };
        assert!(too_many.validate().is_err());
        let mixed = CheckNumbersRequest {
            numbers: vec!["+971 50 123 4567".into(), "nope".into()],
        };
        assert!(
            mixed
                .validate()
                .unwrap_err()
                .details
                .unwrap()
                .contains_key("numbers[1]")
        );
        let ok = CheckNumbersRequest {
            numbers: vec!["971501234567@s.whatsapp.net".into()],
        };
        assert_eq!(ok.validate().unwrap(), vec!["971501234567".to_string()]);
    }
}
