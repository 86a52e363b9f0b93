//! Linking by pairing code, the phone's half: the companion announces itself with its
//! ephemeral key wrapped in the code (`companion_hello`); the user types the code on the
//! phone, which answers with its own wrapped ephemeral (`primary_hello`); the companion's
//! key bundle (`companion_finish`) then yields the ADV secret a QR would have carried.

use wacore::pair_code::PairCodeUtils;
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;
use wacore_libsignal::protocol::{KeyPair, PublicKey};

use crate::link::{LinkError, issue_pair_success};
use crate::nodes::{
    bytes, child, fixed32, iq_error, iq_result, jid_attr, new_id, now_secs, server_jid,
};
use crate::world::{CodeLink, ConnHandle, World};

const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";

impl World {
    /// `<link_code_companion_reg stage=...>` IQs from a device that is not linked yet.
    pub async fn on_link_code_iq(&self, conn: &ConnHandle, id: &str, node: &Node) {
        let answer = match child(node, "link_code_companion_reg") {
            Some(reg) => match crate::nodes::attr(reg, "stage").as_deref() {
                Some("companion_hello") => self.companion_hello(conn, id, reg).await,
                Some("companion_finish") => self.companion_finish(conn, id, reg).await,
                _ => Some(iq_error(id, 400, "bad-request")),
            },
            None => Some(iq_error(id, 400, "bad-request")),
        };
        if let Some(answer) = answer {
            conn.send(answer);
        }
    }

    async fn companion_hello(&self, conn: &ConnHandle, id: &str, reg: &Node) -> Option<Node> {
        let (Some(phone), Some(wrapped)) = (
            jid_attr(reg, "jid").map(|j| j.user.to_string()),
            child(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")
                .and_then(bytes)
                .filter(|b| b.len() == 80),
        ) else {
            return Some(iq_error(id, 400, "bad-request"));
        };
        let mut state = self.state.lock().await;
        if !state.pairing.values().any(|p| p.conn.id == conn.id) {
            return Some(iq_error(id, 401, "not-authorized"));
        }
        let reference = new_id().into_bytes();
        state.code_links.insert(
            phone,
            CodeLink {
                conn: conn.clone(),
                reference: reference.clone(),
                wrapped_ephemeral: wrapped.to_vec(),
                exchange: None,
            },
        );
        Some(iq_result(
            id,
            vec![
                NodeBuilder::new("link_code_companion_reg")
                    .children([NodeBuilder::new("link_code_pairing_ref")
                        .bytes(reference)
                        .build()])
                    .build(),
            ],
        ))
    }

    /// The user types `code` on `phone`'s phone.
    pub async fn enter_code(&self, phone: &str, code: &str) -> Result<(), LinkError> {
        let mut state = self.state.lock().await;
        let identity = *state
            .account_mut(phone)
            .primary
            .identity_key_pair()
            .public_key();
        let link = state
            .code_links
            .get_mut(phone)
            .ok_or_else(|| LinkError::NoCodeRequest(phone.to_string()))?;
        // Phones accept the code with or without the dash they display it with.
        let code: String = code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        // A wrong code decrypts to some other key; the bundle check below then fails.
        let companion_ephemeral =
            PairCodeUtils::decrypt_primary_ephemeral_pub(&link.wrapped_ephemeral, &code)
                .map_err(|e| LinkError::BadCode(e.to_string()))?;
        let ephemeral = KeyPair::generate(&mut rand::rng());
        let wrapped = PairCodeUtils::encrypt_ephemeral_pub(
            ephemeral
                .public_key
                .public_key_bytes()
                .try_into()
                .expect("32-byte key"),
            &code,
        );
        link.exchange = Some((ephemeral, companion_ephemeral));
        link.conn.send(
            NodeBuilder::new("notification")
                .attr("from", server_jid())
                .attr("id", new_id())
                .attr("t", now_secs().to_string())
                .attr("type", "link_code_companion_reg")
                .children([NodeBuilder::new("link_code_companion_reg")
                    .attr("stage", "primary_hello")
                    .children([
                        NodeBuilder::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                            .bytes(wrapped.to_vec())
                            .build(),
                        NodeBuilder::new("primary_identity_pub")
                            .bytes(identity.public_key_bytes().to_vec())
                            .build(),
                        NodeBuilder::new("link_code_pairing_ref")
                            .bytes(link.reference.clone())
                            .build(),
                    ])
                    .build()])
                .build(),
        );
        Ok(())
    }

    async fn companion_finish(&self, conn: &ConnHandle, id: &str, reg: &Node) -> Option<Node> {
        let mut state = self.state.lock().await;
        let Some(phone) = jid_attr(reg, "jid").map(|j| j.user.to_string()) else {
            return Some(iq_error(id, 400, "bad-request"));
        };
        let Some(link) = state
            .code_links
            .get(&phone)
            .filter(|l| l.conn.id == conn.id)
        else {
            return Some(iq_error(id, 404, "item-not-found"));
        };
        let Some((ephemeral, companion_ephemeral)) = &link.exchange else {
            return Some(iq_error(id, 400, "bad-request"));
        };
        let bundle = child(reg, "link_code_pairing_wrapped_key_bundle").and_then(bytes);
        let companion_identity = fixed32(child(reg, "companion_identity_public").and_then(bytes));
        let Some(primary_identity) = state
            .accounts
            .get(&phone)
            .map(|a| a.primary.identity_key_pair().clone())
        else {
            return Some(iq_error(id, 404, "item-not-found"));
        };
        let adv_secret = match (bundle, companion_identity) {
            (Some(bundle), Some(companion_identity)) => open_key_bundle(
                bundle,
                ephemeral,
                companion_ephemeral,
                &companion_identity,
                primary_identity.private_key(),
            ),
            _ => None,
        };
        let Some(adv_secret) = adv_secret else {
            tracing::warn!("pairing code for {phone}: the key bundle does not open (wrong code?)");
            state.code_links.remove(&phone);
            return Some(iq_error(id, 400, "bad-request"));
        };
        if !state.pairing.values().any(|p| p.conn.id == conn.id) {
            return Some(iq_error(id, 404, "item-not-found"));
        }
        // The answer goes ahead of the pair-success it leads to.
        conn.send(iq_result(id, vec![]));
        issue_pair_success(&mut state, conn, &phone, &adv_secret);
        None
    }
}

/// Decrypts the companion's key bundle and derives the ADV secret from it, checking the
/// bundle names the companion's identity key. `None` when anything does not match.
fn open_key_bundle(
    wrapped: &[u8],
    ephemeral: &KeyPair,
    companion_ephemeral: &[u8; 32],
    companion_identity: &[u8; 32],
    primary_identity: &wacore_libsignal::protocol::PrivateKey,
) -> Option<[u8; 32]> {
    if wrapped.len() < 32 + 12 + 16 {
        return None;
    }
    let (salt, rest) = wrapped.split_at(32);
    let (iv, ciphertext) = rest.split_at(12);
    let companion_eph = PublicKey::from_djb_public_key_bytes(companion_ephemeral).ok()?;
    let ephemeral_shared = ephemeral
        .private_key
        .calculate_agreement(&companion_eph)
        .ok()?;
    let mut key = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(&ephemeral_shared, Some(salt), BUNDLE_KEY_INFO, &mut key)
        .ok()?;
    let mut bundle = Vec::new();
    wacore_libsignal::crypto::aes_256_gcm_decrypt(
        &key,
        iv.try_into().ok()?,
        b"",
        ciphertext,
        &mut bundle,
    )
    .ok()?;
    if bundle.len() != 96 || bundle[..32] != companion_identity[..] {
        return None;
    }
    let companion = PublicKey::from_djb_public_key_bytes(companion_identity).ok()?;
    let identity_shared = primary_identity.calculate_agreement(&companion).ok()?;
    let secret = [&ephemeral_shared[..], &identity_shared[..], &bundle[64..96]].concat();
    let mut adv_secret = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(&secret, None, b"adv_secret", &mut adv_secret).ok()?;
    Some(adv_secret)
}
