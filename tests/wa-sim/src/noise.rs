//! The server side of WhatsApp's Noise handshakes (XX, IK and the XX-fallback an IK client
//! pivots to when the server no longer holds the static it cached) and the transport
//! ciphers that follow.
//!
//! The initiator side lives in `wacore-noise`; each step here is the mirror image of one
//! there, with the same prologue (`WA_CONN_HEADER`) and protocol names.

use wacore_binary::consts::{
    NOISE_PATTERN_IK, NOISE_PATTERN_XX, NOISE_PATTERN_XXFALLBACK, WA_CONN_HEADER,
};
use wacore_libsignal::protocol::KeyPair;
use wacore_noise::{NoiseCipher, NoiseHandshake};
use waproto::whatsapp::{self as wa, HandshakeMessage};

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("malformed handshake message: {0}")]
    Malformed(String),
    #[error("noise: {0}")]
    Noise(#[from] wacore_noise::HandshakeError),
}

type Result<T> = std::result::Result<T, HandshakeError>;

/// The server's long-lived Noise identity and the certificate chain that vouches for it.
///
/// The chain is signed with zeros: the client only accepts it when built with
/// `danger-skip-cert-chain-verify`, which is exactly the test-only build we want.
pub struct ServerIdentity {
    static_kp: KeyPair,
    cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub fn generate() -> Self {
        let static_kp = KeyPair::generate(&mut rand::rng());
        let public = raw_public(&static_kp);
        Self {
            cert_chain: wacore_noise::test_util::build_cert_chain_bytes(&public),
            static_kp,
        }
    }
}

fn raw_public(kp: &KeyPair) -> [u8; 32] {
    kp.public_key
        .public_key_bytes()
        .try_into()
        .expect("curve25519 public keys are 32 bytes")
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| HandshakeError::Malformed(format!("{what} is {} bytes", bytes.len())))
}

/// What the client learned about itself once a handshake completes.
pub struct Established {
    pub transport: Transport,
    /// The client's Noise static public key (its device identity on the wire).
    pub client_static: [u8; 32],
    /// The encoded `ClientPayload` (login or registration).
    pub payload: Vec<u8>,
    pub pattern: Pattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Xx,
    Ik,
    XxFallback,
}

/// The first answer to a client hello: either the handshake is done (IK accepted) or the
/// server hello has been sent and the client's finish is awaited (XX and XX-fallback).
pub enum Step {
    Done(Box<Established>, Vec<u8>),
    AwaitFinish(Box<PendingXx>, Vec<u8>),
}

/// Answers a ClientHello. `accept_ik` false makes the server refuse a resumed (IK) handshake
/// the way WhatsApp does after rotating its static key.
pub fn respond(identity: &ServerIdentity, hello_bytes: &[u8], accept_ik: bool) -> Result<Step> {
    let hello = waproto::codec::handshake_message_decode(hello_bytes)
        .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
    let hello = hello
        .client_hello
        .into_option()
        .ok_or_else(|| HandshakeError::Malformed("no client hello".into()))?;
    let ephemeral = key32(
        hello
            .ephemeral
            .as_deref()
            .ok_or_else(|| HandshakeError::Malformed("client hello without ephemeral".into()))?,
        "client ephemeral",
    )?;
    match (hello.r#static, hello.payload) {
        (Some(encrypted_static), Some(encrypted_payload)) => {
            if accept_ik
                && let Ok(done) =
                    accept_ik_hello(identity, ephemeral, &encrypted_static, &encrypted_payload)
            {
                return Ok(done);
            }
            // A client whose cached static we cannot (or will not) use: XX-fallback keeps
            // its ephemeral and asks for the static again.
            let (pending, server_hello) =
                xx_server_hello(identity, ephemeral, NOISE_PATTERN_XXFALLBACK)?;
            Ok(Step::AwaitFinish(
                Box::new(PendingXx {
                    pattern: Pattern::XxFallback,
                    ..pending
                }),
                server_hello,
            ))
        }
        _ => {
            let (pending, server_hello) = xx_server_hello(identity, ephemeral, NOISE_PATTERN_XX)?;
            Ok(Step::AwaitFinish(Box::new(pending), server_hello))
        }
    }
}

/// `<- e, ee, s, es` with the certificate chain as payload.
fn xx_server_hello(
    identity: &ServerIdentity,
    client_ephemeral: [u8; 32],
    protocol: &str,
) -> Result<(PendingXx, Vec<u8>)> {
    let mut noise = NoiseHandshake::new(protocol, &WA_CONN_HEADER)?;
    noise.authenticate(&client_ephemeral);
    let ephemeral = KeyPair::generate(&mut rand::rng());
    let ephemeral_pub = raw_public(&ephemeral);
    noise.authenticate(&ephemeral_pub);
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_ephemeral)?;
    let encrypted_static = noise.encrypt(&raw_public(&identity.static_kp))?;
    noise.mix_shared_secret(
        identity.static_kp.private_key.serialize(),
        &client_ephemeral,
    )?;
    let encrypted_cert = noise.encrypt(&identity.cert_chain)?;
    let hello = server_hello(ephemeral_pub, Some(encrypted_static), encrypted_cert);
    Ok((
        PendingXx {
            noise,
            ephemeral,
            pattern: Pattern::Xx,
        },
        hello,
    ))
}

fn server_hello(
    ephemeral: [u8; 32],
    encrypted_static: Option<Vec<u8>>,
    payload: Vec<u8>,
) -> Vec<u8> {
    let message = HandshakeMessage {
        server_hello: waproto::buffa::MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(ephemeral.to_vec()),
            r#static: encrypted_static,
            payload: Some(payload),
            ..Default::default()
        }),
        ..Default::default()
    };
    waproto::codec::handshake_message_to_vec(&message)
}

/// An XX (or XX-fallback) handshake waiting for the client's `-> s, se` finish.
pub struct PendingXx {
    noise: NoiseHandshake,
    ephemeral: KeyPair,
    pattern: Pattern,
}

impl PendingXx {
    pub fn finish(mut self, finish_bytes: &[u8]) -> Result<Established> {
        let message = waproto::codec::handshake_message_decode(finish_bytes)
            .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
        let finish = message
            .client_finish
            .into_option()
            .ok_or_else(|| HandshakeError::Malformed("expected a client finish".into()))?;
        let (Some(encrypted_static), Some(encrypted_payload)) = (finish.r#static, finish.payload)
        else {
            return Err(HandshakeError::Malformed(
                "client finish without static or payload".into(),
            ));
        };
        let client_static = key32(&self.noise.decrypt(&encrypted_static)?, "client static")?;
        self.noise
            .mix_shared_secret(self.ephemeral.private_key.serialize(), &client_static)?;
        let payload = self.noise.decrypt(&encrypted_payload)?;
        Ok(Established {
            transport: Transport::responder(self.noise)?,
            client_static,
            payload,
            pattern: self.pattern,
        })
    }
}

/// `-> e, es, s, ss` was the hello; answer `<- e, ee, se` with the certificate as payload.
fn accept_ik_hello(
    identity: &ServerIdentity,
    client_ephemeral: [u8; 32],
    encrypted_static: &[u8],
    encrypted_payload: &[u8],
) -> Result<Step> {
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER)?;
    noise.authenticate(&raw_public(&identity.static_kp));
    noise.authenticate(&client_ephemeral);
    noise.mix_shared_secret(
        identity.static_kp.private_key.serialize(),
        &client_ephemeral,
    )?;
    let client_static = key32(&noise.decrypt(encrypted_static)?, "client static")?;
    noise.mix_shared_secret(identity.static_kp.private_key.serialize(), &client_static)?;
    let payload = noise.decrypt(encrypted_payload)?;

    let ephemeral = KeyPair::generate(&mut rand::rng());
    let ephemeral_pub = raw_public(&ephemeral);
    noise.authenticate(&ephemeral_pub);
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_ephemeral)?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static)?;
    let encrypted_cert = noise.encrypt(&identity.cert_chain)?;
    let hello = server_hello(ephemeral_pub, None, encrypted_cert);
    Ok(Step::Done(
        Box::new(Established {
            transport: Transport::responder(noise)?,
            client_static,
            payload,
            pattern: Pattern::Ik,
        }),
        hello,
    ))
}

/// The post-handshake ciphers.
pub struct Transport {
    read: NoiseCipher,
    write: NoiseCipher,
}

impl Transport {
    fn responder(noise: NoiseHandshake) -> Result<Self> {
        // The split is named from the initiator's side: its write key is our read key.
        let (initiator_write, initiator_read) = noise.finish()?;
        Ok(Self {
            read: initiator_write,
            write: initiator_read,
        })
    }

    /// Separate halves for the reader and the writer task, each with its frame counter.
    pub fn split(self) -> (Decryptor, Encryptor) {
        (
            Decryptor {
                cipher: self.read,
                counter: 0,
            },
            Encryptor {
                cipher: self.write,
                counter: 0,
            },
        )
    }
}

pub struct Decryptor {
    cipher: NoiseCipher,
    counter: u32,
}

impl Decryptor {
    pub fn decrypt(&mut self, mut frame: Vec<u8>) -> Result<Vec<u8>> {
        self.cipher
            .decrypt_in_place_with_counter(self.counter, &mut frame)
            .map_err(wacore_noise::HandshakeError::from)?;
        self.counter += 1;
        Ok(frame)
    }
}

pub struct Encryptor {
    cipher: NoiseCipher,
    counter: u32,
}

impl Encryptor {
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let out = self
            .cipher
            .encrypt_with_counter(self.counter, plaintext)
            .map_err(wacore_noise::HandshakeError::from)?;
        self.counter += 1;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! Our responder against the client's own initiator state machines from `wacore-noise`.

    use wacore_noise::{
        IkHandshakeState, IkServerHelloOutcome, XxFallbackHandshakeState, XxHandshakeState,
    };

    use super::*;

    fn client_static() -> KeyPair {
        KeyPair::generate(&mut rand::rng())
    }

    /// Both directions of the established transport carry a frame.
    fn assert_channel(client_write: &NoiseCipher, client_read: &NoiseCipher, server: Established) {
        let (mut decrypt, mut encrypt) = server.transport.split();
        let up = client_write.encrypt_with_counter(0, b"ping").unwrap();
        assert_eq!(decrypt.decrypt(up).unwrap(), b"ping");
        let mut down = encrypt.encrypt(b"pong").unwrap();
        client_read
            .decrypt_in_place_with_counter(0, &mut down)
            .unwrap();
        assert_eq!(down, b"pong");
    }

    #[test]
    fn xx_completes_with_the_clients_state_machine() {
        let server = ServerIdentity::generate();
        let client_kp = client_static();
        let mut client =
            XxHandshakeState::new(client_kp.clone(), b"login".to_vec(), &WA_CONN_HEADER).unwrap();
        let Step::AwaitFinish(pending, server_hello) =
            respond(&server, &client.build_client_hello().unwrap(), true).unwrap()
        else {
            panic!("XX needs a finish");
        };
        let finish = client
            .read_server_hello_and_build_client_finish(&server_hello)
            .expect("the client accepts our certificate chain");
        let established = pending.finish(&finish).unwrap();
        assert_eq!(established.payload, b"login");
        assert_eq!(established.client_static, raw_public(&client_kp));
        assert_eq!(established.pattern, Pattern::Xx);
        let outcome = client.finish().unwrap();
        assert_eq!(
            outcome.server_cert_chain.leaf_key,
            raw_public(&server.static_kp)
        );
        assert_channel(&outcome.write_cipher, &outcome.read_cipher, established);
    }

    #[test]
    fn ik_resumes_in_one_round_trip() {
        let server = ServerIdentity::generate();
        let mut client = IkHandshakeState::new(
            client_static(),
            raw_public(&server.static_kp),
            b"resume".to_vec(),
            &WA_CONN_HEADER,
        )
        .unwrap();
        let Step::Done(established, server_hello) =
            respond(&server, &client.build_client_hello().unwrap(), true).unwrap()
        else {
            panic!("IK completes with the server hello");
        };
        assert_eq!(established.payload, b"resume");
        assert_eq!(established.pattern, Pattern::Ik);
        let IkServerHelloOutcome::Continue(outcome) =
            client.read_server_hello(&server_hello).unwrap()
        else {
            panic!("the client must accept the IK answer");
        };
        assert_channel(&outcome.write_cipher, &outcome.read_cipher, *established);
    }

    #[test]
    fn a_stale_static_falls_back_to_xx_without_a_new_hello() {
        let old = ServerIdentity::generate();
        let server = ServerIdentity::generate();
        let mut client = IkHandshakeState::new(
            client_static(),
            raw_public(&old.static_kp),
            b"resume".to_vec(),
            &WA_CONN_HEADER,
        )
        .unwrap();
        let Step::AwaitFinish(pending, server_hello) =
            respond(&server, &client.build_client_hello().unwrap(), true).unwrap()
        else {
            panic!("a stale static cannot complete IK");
        };
        let IkServerHelloOutcome::Fallback(inputs) =
            client.read_server_hello(&server_hello).unwrap()
        else {
            panic!("the client must pivot to XX-fallback");
        };
        let mut fallback =
            XxFallbackHandshakeState::from_ik_failure(*inputs, &WA_CONN_HEADER).unwrap();
        let finish = fallback.build_client_finish().unwrap();
        let established = pending.finish(&finish).unwrap();
        assert_eq!(established.pattern, Pattern::XxFallback);
        assert_eq!(established.payload, b"resume");
        let outcome = fallback.finish().unwrap();
        assert_channel(&outcome.write_cipher, &outcome.read_cipher, established);
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let server = ServerIdentity::generate();
        assert!(respond(&server, b"\x00\x01garbage", true).is_err());
        let hello = waproto::codec::handshake_message_to_vec(&HandshakeMessage::default());
        assert!(respond(&server, &hello, true).is_err());
    }
}
