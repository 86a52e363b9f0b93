//! Linking a companion: what the phone reads from the QR code, the ADV identity it signs for
//! the new device, and the checks on the device's counter-signature.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use wacore_libsignal::protocol::{IdentityKeyPair, PublicKey};
use waproto::buffa::Message as _;
use waproto::whatsapp as wa;

use crate::nodes::{be_u32, fixed32};
use crate::signal::PublishedKeys;

/// Domain separators of the ADV signatures (account signs, then the device counter-signs).
const ACCOUNT_SIGNATURE_PREFIX: &[u8] = &[6, 0];
const DEVICE_SIGNATURE_PREFIX: &[u8] = &[6, 1];
/// The client defers verifying key-index lists (they arrive over the Noise channel), so this
/// prefix only has to be consistent within the simulator.
const KEY_INDEX_LIST_PREFIX: &[u8] = &[6, 2];
/// What the phone's camera sees when the QR is a deep link rather than bare data.
const DEEP_LINK_PREFIX: &str = "https://wa.me/settings/linked_devices#";

#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    #[error("not a WhatsApp linking QR code: {0}")]
    Qr(String),
    #[error("registration data: {0}")]
    Registration(String),
    #[error("device signature: {0}")]
    Signature(String),
}

/// The data of a linking QR: `ref,noise,identity,adv-secret[,client-type]`.
#[derive(Debug, Clone)]
pub struct QrCode {
    pub reference: String,
    pub noise_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub adv_secret: [u8; 32],
}

impl QrCode {
    pub fn parse(text: &str) -> Result<Self, PairingError> {
        let body = text.trim();
        let body = body.strip_prefix(DEEP_LINK_PREFIX).unwrap_or(body);
        let fields: Vec<&str> = body.split(',').collect();
        if fields.len() < 4 || fields.iter().any(|f| f.is_empty()) {
            return Err(PairingError::Qr(format!(
                "expected 4 or 5 comma-separated fields, got {}",
                fields.len()
            )));
        }
        let key = |field: &str, what: &str| -> Result<[u8; 32], PairingError> {
            BASE64_STANDARD
                .decode(field)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| PairingError::Qr(format!("{what} is not 32 base64 bytes")))
        };
        Ok(Self {
            reference: fields[0].to_string(),
            noise_key: key(fields[1], "noise key")?,
            identity_key: key(fields[2], "identity key")?,
            adv_secret: key(fields[3], "ADV secret")?,
        })
    }
}

/// The keys a new companion registered with (its handshake's `device_pairing_data`).
pub fn registration_keys(
    data: &wa::client_payload::DevicePairingRegistrationData,
) -> Result<PublishedKeys, PairingError> {
    let bad = |what: &str| PairingError::Registration(format!("missing or malformed {what}"));
    let registration_id = data
        .e_regid
        .as_deref()
        .and_then(be_u32)
        .ok_or_else(|| bad("eRegid"))?;
    let identity = fixed32(data.e_ident.as_deref()).ok_or_else(|| bad("eIdent"))?;
    let spk_id = data
        .e_skey_id
        .as_deref()
        .filter(|b| b.len() == 3)
        .map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]))
        .ok_or_else(|| bad("eSkeyId"))?;
    let spk = fixed32(data.e_skey_val.as_deref()).ok_or_else(|| bad("eSkeyVal"))?;
    let signature = data
        .e_skey_sig
        .clone()
        .filter(|s| s.len() == 64)
        .ok_or_else(|| bad("eSkeySig"))?;
    let identity_key =
        PublicKey::from_djb_public_key_bytes(&identity).map_err(|_| bad("eIdent"))?;
    let spk_key = PublicKey::from_djb_public_key_bytes(&spk).map_err(|_| bad("eSkeyVal"))?;
    if !identity_key.verify_signature(&spk_key.serialize(), &signature) {
        return Err(PairingError::Registration(
            "signed pre-key signature does not verify".into(),
        ));
    }
    Ok(PublishedKeys {
        registration_id,
        identity,
        signed_pre_key: (spk_id, spk, signature),
        pre_keys: Vec::new(),
    })
}

/// The `<device-identity>` of `pair-success`: the account's signature over the new device's
/// identity, wrapped in an HMAC keyed with the QR's ADV secret.
pub fn device_identity_for_pairing(
    account: &IdentityKeyPair,
    raw_id: u32,
    key_index: u32,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
) -> Vec<u8> {
    let details = wa::ADVDeviceIdentity {
        raw_id: Some(raw_id),
        timestamp: Some(chrono::Utc::now().timestamp() as u64),
        key_index: Some(key_index),
        ..Default::default()
    }
    .encode_to_vec();
    let account_signature = account
        .private_key()
        .calculate_signature(
            &[ACCOUNT_SIGNATURE_PREFIX, &details, companion_identity].concat(),
            &mut rand::rng(),
        )
        .expect("signing with the account key");
    let signed = wa::ADVSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.public_key().public_key_bytes().to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(adv_secret).expect("any key length");
    mac.update(&signed);
    wa::ADVSignedDeviceIdentityHMAC {
        details: Some(signed),
        hmac: Some(mac.finalize().into_bytes().to_vec()),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Checks the companion's `pair-device-sign`: its device signature must bind its identity
/// key to the account signature we issued. Returns the signed identity and its key index.
pub fn verify_device_signature(
    signed_identity: &[u8],
    companion_identity: &[u8; 32],
    account: &IdentityKeyPair,
) -> Result<(wa::ADVSignedDeviceIdentity, u32), PairingError> {
    let bad = |what: &str| PairingError::Signature(what.to_string());
    let signed = wa::ADVSignedDeviceIdentity::decode_from_slice(signed_identity)
        .map_err(|_| bad("undecodable ADVSignedDeviceIdentity"))?;
    let details = signed.details.as_deref().ok_or_else(|| bad("no details"))?;
    let device_signature = signed
        .device_signature
        .as_deref()
        .ok_or_else(|| bad("no device signature"))?;
    let account_key = account.public_key().public_key_bytes();
    // Real WhatsApp accepts a signed identity that omits the account key (Baileys and
    // whatsmeow always omit it): the device signature below is checked against the key
    // the phone issued either way. A key that is present must be that one.
    match signed.account_signature_key.as_deref() {
        None => {}
        Some(key) if key == account_key => {}
        Some(_) => return Err(bad("account key changed")),
    }
    let companion = PublicKey::from_djb_public_key_bytes(companion_identity)
        .map_err(|_| bad("companion identity is not a curve25519 key"))?;
    let message = [
        DEVICE_SIGNATURE_PREFIX,
        details,
        companion_identity,
        account_key,
    ]
    .concat();
    if !companion.verify_signature(&message, device_signature) {
        return Err(bad("does not verify with the companion's identity key"));
    }
    let key_index = wa::ADVDeviceIdentity::decode_from_slice(details)
        .ok()
        .and_then(|d| d.key_index)
        .ok_or_else(|| bad("details without key index"))?;
    Ok((signed, key_index))
}

/// The account-signed list of valid companion key indexes (`<key-index-list>` in usync).
pub fn signed_key_index_list(
    account: &IdentityKeyPair,
    raw_id: u32,
    timestamp: u64,
    valid_indexes: &[u32],
) -> Vec<u8> {
    let details = wa::ADVKeyIndexList {
        raw_id: Some(raw_id),
        timestamp: Some(timestamp),
        current_index: valid_indexes.iter().copied().max(),
        valid_indexes: valid_indexes.to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    let signature = account
        .private_key()
        .calculate_signature(
            &[KEY_INDEX_LIST_PREFIX, &details].concat(),
            &mut rand::rng(),
        )
        .expect("signing with the account key");
    wa::ADVSignedKeyIndexList {
        details: Some(details),
        account_signature: Some(signature.to_vec()),
        account_signature_key: Some(account.public_key().public_key_bytes().to_vec()),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A companion's counter-signature over what the phone issued, with or without the
    /// account key in the signed identity (as whatsapp-rust and as Baileys send it).
    fn counter_signed(
        account: &IdentityKeyPair,
        companion: &IdentityKeyPair,
        account_key: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let details = wa::ADVDeviceIdentity {
            raw_id: Some(1),
            key_index: Some(3),
            ..Default::default()
        }
        .encode_to_vec();
        let companion_key = companion.public_key().public_key_bytes();
        let signature = companion
            .private_key()
            .calculate_signature(
                &[
                    DEVICE_SIGNATURE_PREFIX,
                    &details,
                    companion_key,
                    account.public_key().public_key_bytes(),
                ]
                .concat(),
                &mut rand::rng(),
            )
            .unwrap();
        wa::ADVSignedDeviceIdentity {
            details: Some(details),
            account_signature_key: account_key,
            account_signature: Some(vec![0; 64]),
            device_signature: Some(signature.to_vec()),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_device_signature_verifies_against_the_issued_account_key() {
        let mut rng = rand::rng();
        let account = IdentityKeyPair::generate(&mut rng);
        let companion = IdentityKeyPair::generate(&mut rng);
        let identity: [u8; 32] = companion
            .public_key()
            .public_key_bytes()
            .try_into()
            .unwrap();
        let issued = account.public_key().public_key_bytes().to_vec();
        for key in [Some(issued), None] {
            let signed = counter_signed(&account, &companion, key.clone());
            let (_, index) = verify_device_signature(&signed, &identity, &account)
                .unwrap_or_else(|e| panic!("account key {key:?}: {e}"));
            assert_eq!(index, 3);
        }
        // Another account's key in the identity, or a signature over another account's
        // key, is refused whether or not the key is spelled out.
        let stranger = IdentityKeyPair::generate(&mut rng);
        let signed = counter_signed(
            &account,
            &companion,
            Some(stranger.public_key().public_key_bytes().to_vec()),
        );
        assert!(verify_device_signature(&signed, &identity, &account).is_err());
        let signed = counter_signed(&stranger, &companion, None);
        assert!(verify_device_signature(&signed, &identity, &account).is_err());
    }

    #[test]
    fn a_qr_from_the_client_parses_and_garbage_does_not() {
        let k = BASE64_STANDARD.encode([7u8; 32]);
        let qr = format!("2@abc,{k},{k},{k},1");
        let parsed = QrCode::parse(&format!("{DEEP_LINK_PREFIX}{qr}")).unwrap();
        assert_eq!(parsed.reference, "2@abc");
        assert_eq!(parsed.adv_secret, [7u8; 32]);
        assert!(QrCode::parse("hello").is_err());
        assert!(QrCode::parse(&format!("r,{k},short,{k}")).is_err());
    }
}
