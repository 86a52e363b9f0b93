//! A location to send (`SendRequest.location`): a pin with an optional name and address.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldErrors;

/// Longest place name and address WhatsApp shows in full.
pub const PLACE_NAME_MAX: usize = 256;
pub const ADDRESS_MAX: usize = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationSpec {
    /// Degrees, -90 to 90.
    pub latitude: f64,
    /// Degrees, -180 to 180.
    pub longitude: f64,
    /// The place's name, shown above the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl LocationSpec {
    /// Adds what is wrong with it to `errors` (fields under `location.`).
    pub fn check(&self, errors: &mut FieldErrors) {
        if !(-90.0..=90.0).contains(&self.latitude) {
            errors.insert(
                "location.latitude".into(),
                "must be -90 to 90 degrees".into(),
            );
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            errors.insert(
                "location.longitude".into(),
                "must be -180 to 180 degrees".into(),
            );
        }
        for (field, value, max) in [
            ("location.name", &self.name, PLACE_NAME_MAX),
            ("location.address", &self.address, ADDRESS_MAX),
        ] {
            if let Some(value) = value
                && (value.trim().is_empty() || value.chars().count() > max)
            {
                errors.insert(field.into(), format!("must be 1-{max} characters"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(spec: LocationSpec) -> FieldErrors {
        let mut errors = FieldErrors::new();
        spec.check(&mut errors);
        errors
    }

    #[test]
    fn coordinates_and_labels_are_bounded() {
        let pin = LocationSpec {
            latitude: 25.2048,
            longitude: 55.2708,
            name: Some("Dubai Mall".into()),
            address: None,
        };
        assert!(errors_of(pin.clone()).is_empty());
        let bad = errors_of(LocationSpec {
            latitude: 91.0,
            longitude: -180.5,
            name: Some(" ".into()),
            address: Some("x".repeat(513)),
        });
        for field in [
            "location.latitude",
            "location.longitude",
            "location.name",
            "location.address",
        ] {
            assert!(bad.contains_key(field), "{field}: {bad:?}");
        }
        assert!(
            !errors_of(LocationSpec {
                latitude: f64::NAN,
                ..pin
            })
            .is_empty(),
            "NaN is no latitude"
        );
    }
}
