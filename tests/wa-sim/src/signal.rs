//! A simulated Signal device (a contact's phone, or the account's own primary phone):
//! identity, pre-keys and sessions in memory, driven through `wacore-libsignal`, the same
//! implementation the client uses. What it decrypts is what the client really encrypted.

use std::collections::HashMap;

use async_trait::async_trait;
use wacore_libsignal::protocol::{
    CiphertextMessage, CiphertextMessageType, Direction, GenericSignedPreKey, IdentityChange,
    IdentityKey, IdentityKeyPair, IdentityKeyStore, KeyPair, PreKeyBundle, PreKeyId, PreKeyRecord,
    PreKeySignalMessage, PreKeyStore, ProtocolAddress, PublicKey, SenderKeyDistributionMessage,
    SenderKeyName, SenderKeyRecord, SenderKeyStore, SessionRecord, SessionStore, SignalMessage,
    SignalProtocolError, SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore, Timestamp,
    UsePQRatchet, create_sender_key_distribution_message, group_decrypt, group_encrypt,
    message_decrypt, message_encrypt, process_prekey_bundle,
    process_sender_key_distribution_message,
};

type SignalResult<T> = Result<T, SignalProtocolError>;

/// The `<enc type>` of a Signal ciphertext on the wire.
pub fn enc_type(kind: CiphertextMessageType) -> &'static str {
    match kind {
        CiphertextMessageType::PreKey => "pkmsg",
        _ => "msg",
    }
}

/// A pre-key bundle as the server hands it out (and as a client uploads it).
#[derive(Clone, Debug)]
pub struct PublishedKeys {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub signed_pre_key: (u32, [u8; 32], Vec<u8>),
    pub pre_keys: Vec<(u32, [u8; 32])>,
}

impl PublishedKeys {
    /// The bundle for one fetch, consuming a one-time pre-key when any is left.
    pub fn take_bundle(&mut self, device: u32) -> SignalResult<PreKeyBundle> {
        let one_time = if self.pre_keys.is_empty() {
            None
        } else {
            Some(self.pre_keys.remove(0))
        };
        let (spk_id, spk_pub, spk_sig) = &self.signed_pre_key;
        PreKeyBundle::new(
            self.registration_id,
            device.into(),
            one_time
                .map(|(id, key)| Ok::<_, SignalProtocolError>((PreKeyId::from(id), djb(&key)?)))
                .transpose()?,
            SignedPreKeyId::from(*spk_id),
            djb(spk_pub)?,
            spk_sig.clone(),
            IdentityKey::new(djb(&self.identity)?),
        )
    }
}

/// A generator that may live across `.await` (the thread-local one may not).
fn send_rng() -> rand::rngs::StdRng {
    rand::make_rng()
}

fn djb(raw: &[u8; 32]) -> SignalResult<PublicKey> {
    PublicKey::from_djb_public_key_bytes(raw).map_err(SignalProtocolError::from)
}

fn raw(key: &PublicKey) -> [u8; 32] {
    key.public_key_bytes()
        .try_into()
        .expect("curve25519 public keys are 32 bytes")
}

pub struct SignalDevice {
    identity: Identities,
    pre_keys: PreKeys,
    signed: SignedPreKeys,
    sessions: Sessions,
    sender_keys: SenderKeys,
    published: PublishedKeys,
}

impl SignalDevice {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let registration_id = rand::random::<u32>() & 0x3fff;
        let signed_kp = KeyPair::generate(&mut rng);
        let signature = identity
            .private_key()
            .calculate_signature(&signed_kp.public_key.serialize(), &mut rng)
            .expect("signing with a fresh key");
        let signed_record = SignedPreKeyRecord::new(
            SignedPreKeyId::from(1),
            Timestamp::from_epoch_millis(chrono::Utc::now().timestamp_millis() as u64),
            &signed_kp,
            &signature,
        );
        let mut pre_keys = PreKeys::default();
        let mut published_pre_keys = Vec::new();
        for id in 1..=32u32 {
            let kp = KeyPair::generate(&mut rng);
            published_pre_keys.push((id, raw(&kp.public_key)));
            pre_keys
                .0
                .insert(id, PreKeyRecord::new(PreKeyId::from(id), &kp));
        }
        let published = PublishedKeys {
            registration_id,
            identity: raw(identity.public_key()),
            signed_pre_key: (1, raw(&signed_kp.public_key), signature.to_vec()),
            pre_keys: published_pre_keys,
        };
        Self {
            identity: Identities {
                own: identity,
                registration_id,
                known: HashMap::new(),
            },
            pre_keys,
            signed: SignedPreKeys(HashMap::from([(1, signed_record)])),
            sessions: Sessions::default(),
            sender_keys: SenderKeys::default(),
            published,
        }
    }

    pub fn identity_key_pair(&self) -> &IdentityKeyPair {
        &self.identity.own
    }

    /// The keys this device published to the server.
    pub fn published(&mut self) -> &mut PublishedKeys {
        &mut self.published
    }

    pub fn has_session(&self, peer: &ProtocolAddress) -> bool {
        self.sessions.0.contains_key(peer)
    }

    /// Starts a session with `peer` from the bundle the server handed out.
    pub async fn start_session(
        &mut self,
        peer: &ProtocolAddress,
        bundle: &PreKeyBundle,
    ) -> SignalResult<()> {
        process_prekey_bundle(
            peer,
            &mut self.sessions,
            &mut self.identity,
            bundle,
            &mut send_rng(),
            UsePQRatchet::No,
        )
        .await
        .map(|_| ())
    }

    /// Encrypts `plaintext` for `peer`; returns the wire type (`pkmsg`/`msg`) and bytes.
    pub async fn encrypt(
        &mut self,
        peer: &ProtocolAddress,
        plaintext: &[u8],
    ) -> SignalResult<(&'static str, Vec<u8>)> {
        let message =
            message_encrypt(plaintext, peer, &mut self.sessions, &mut self.identity).await?;
        Ok((
            enc_type(message.message_type()),
            message.serialize().to_vec(),
        ))
    }

    /// Takes a member's sender key for `group` (the `axolotlSenderKeyDistributionMessage`
    /// of a `senderKeyDistributionMessage`), as every member's phone does.
    pub async fn accept_sender_key(
        &mut self,
        group: &str,
        sender: &ProtocolAddress,
        distribution: &[u8],
    ) -> SignalResult<()> {
        let message = SenderKeyDistributionMessage::try_from(distribution)?;
        process_sender_key_distribution_message(
            &sender_key_name(group, sender),
            &message,
            &mut self.sender_keys,
        )
        .await
    }

    /// Decrypts a group message (`<enc type="skmsg">`) `sender` sent to `group`.
    pub async fn group_decrypt(
        &mut self,
        group: &str,
        sender: &ProtocolAddress,
        ciphertext: &[u8],
    ) -> SignalResult<Vec<u8>> {
        group_decrypt(
            ciphertext,
            &mut self.sender_keys,
            &sender_key_name(group, sender),
        )
        .await
    }

    /// This device's sender key for `group` as a distribution message (made on first use),
    /// and `plaintext` encrypted under it: what a member's phone sends to a group.
    pub async fn group_encrypt(
        &mut self,
        group: &str,
        own: &ProtocolAddress,
        plaintext: &[u8],
    ) -> SignalResult<(Vec<u8>, Vec<u8>)> {
        let name = sender_key_name(group, own);
        let distribution =
            create_sender_key_distribution_message(&name, &mut self.sender_keys, &mut send_rng())
                .await?;
        let message =
            group_encrypt(&mut self.sender_keys, &name, plaintext, &mut send_rng()).await?;
        Ok((
            distribution.serialized().to_vec(),
            message.serialized().to_vec(),
        ))
    }

    /// Decrypts an `<enc>` payload from `peer`.
    pub async fn decrypt(
        &mut self,
        peer: &ProtocolAddress,
        kind: &str,
        ciphertext: &[u8],
    ) -> SignalResult<Vec<u8>> {
        let message = match kind {
            "pkmsg" => {
                CiphertextMessage::PreKeySignalMessage(PreKeySignalMessage::try_from(ciphertext)?)
            }
            "msg" => CiphertextMessage::SignalMessage(SignalMessage::try_from(ciphertext)?),
            other => {
                return Err(SignalProtocolError::InvalidArgument(format!(
                    "unsupported enc type {other}"
                )));
            }
        };
        let result = message_decrypt(
            &message,
            peer,
            &mut self.sessions,
            &mut self.identity,
            &mut self.pre_keys,
            &self.signed,
            &mut send_rng(),
            UsePQRatchet::No,
        )
        .await?;
        Ok(result.plaintext)
    }
}

fn sender_key_name(group: &str, sender: &ProtocolAddress) -> SenderKeyName {
    SenderKeyName::new(group.to_string(), sender.to_string())
}

/// Sender keys by group and sender, in memory like everything a simulated phone holds.
#[derive(Default)]
struct SenderKeys(HashMap<SenderKeyName, SenderKeyRecord>);

#[async_trait]
impl SenderKeyStore for SenderKeys {
    async fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: SenderKeyRecord,
    ) -> SignalResult<()> {
        self.0.insert(name.clone(), record);
        Ok(())
    }

    async fn load_sender_key(&self, name: &SenderKeyName) -> SignalResult<Option<SenderKeyRecord>> {
        Ok(self.0.get(name).cloned())
    }
}

struct Identities {
    own: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<ProtocolAddress, IdentityKey>,
}

#[async_trait]
impl IdentityKeyStore for Identities {
    async fn get_identity_key_pair(&self) -> SignalResult<IdentityKeyPair> {
        Ok(self.own.clone())
    }

    async fn get_local_registration_id(&self) -> SignalResult<u32> {
        Ok(self.registration_id)
    }

    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SignalResult<IdentityChange> {
        let previous = self.known.insert(address.clone(), *identity);
        Ok(IdentityChange::from_changed(
            previous.is_some_and(|p| p != *identity),
        ))
    }

    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &IdentityKey,
        _direction: Direction,
    ) -> SignalResult<bool> {
        // Phones trust on first use and accept key changes (with a notice we do not model).
        Ok(true)
    }

    async fn get_identity(&self, address: &ProtocolAddress) -> SignalResult<Option<IdentityKey>> {
        Ok(self.known.get(address).copied())
    }
}

#[derive(Default)]
struct PreKeys(HashMap<u32, PreKeyRecord>);

#[async_trait]
impl PreKeyStore for PreKeys {
    async fn get_pre_key(&self, id: PreKeyId) -> SignalResult<PreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }

    async fn save_pre_key(&mut self, id: PreKeyId, record: &PreKeyRecord) -> SignalResult<()> {
        self.0.insert(id.into(), record.clone());
        Ok(())
    }

    async fn remove_pre_key(&mut self, id: PreKeyId) -> SignalResult<()> {
        self.0.remove(&u32::from(id));
        Ok(())
    }
}

struct SignedPreKeys(HashMap<u32, SignedPreKeyRecord>);

#[async_trait]
impl SignedPreKeyStore for SignedPreKeys {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SignalResult<SignedPreKeyRecord> {
        self.0
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidSignedPreKeyId)
    }

    async fn save_signed_pre_key(
        &mut self,
        id: SignedPreKeyId,
        record: &SignedPreKeyRecord,
    ) -> SignalResult<()> {
        self.0.insert(id.into(), record.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Sessions(HashMap<ProtocolAddress, SessionRecord>);

#[async_trait]
impl SessionStore for Sessions {
    async fn load_session(&self, address: &ProtocolAddress) -> SignalResult<Option<SessionRecord>> {
        Ok(self.0.get(address).cloned())
    }

    async fn has_session(&self, address: &ProtocolAddress) -> SignalResult<bool> {
        Ok(self.0.contains_key(address))
    }

    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: SessionRecord,
    ) -> SignalResult<()> {
        self.0.insert(address.clone(), record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_devices_talk_both_ways() {
        let mut alice = SignalDevice::generate();
        let mut bob = SignalDevice::generate();
        let alice_addr = ProtocolAddress::new("alice", 0.into());
        let bob_addr = ProtocolAddress::new("bob", 0.into());
        let bundle = bob.published().take_bundle(0).unwrap();
        alice.start_session(&bob_addr, &bundle).await.unwrap();
        let (kind, bytes) = alice.encrypt(&bob_addr, b"hi bob").await.unwrap();
        assert_eq!(kind, "pkmsg");
        assert_eq!(
            bob.decrypt(&alice_addr, kind, &bytes).await.unwrap(),
            b"hi bob"
        );
        let (kind, bytes) = bob.encrypt(&alice_addr, b"hi alice").await.unwrap();
        assert_eq!(kind, "msg");
        assert_eq!(
            alice.decrypt(&bob_addr, kind, &bytes).await.unwrap(),
            b"hi alice"
        );
    }
}
