//! The account's app state (syncd): the one mutation every account has,
//! `setting_pushName` in `critical_block`, written by its phone (encrypted and MACed with
//! the sync key the phone shares with each companion, exactly as the client checks), and
//! the patches companions send, which the phone decrypts with the same key.

use wacore::appstate::encode_record;
use wacore::appstate::expand_app_state_keys;
use wacore::appstate::hash::{HashState, generate_patch_mac};
use waproto::whatsapp as wa;

/// The collection the push name lives in.
pub const CRITICAL_BLOCK: &str = "critical_block";

/// An app-state sync key (what `AppStateSyncKeyShare` carries).
#[derive(Clone)]
pub struct SyncKey {
    pub id: Vec<u8>,
    pub data: [u8; 32],
    pub created_ms: i64,
}

impl SyncKey {
    pub fn generate() -> Self {
        Self {
            id: rand::random::<[u8; 6]>().to_vec(),
            data: rand::random(),
            created_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

/// Patch version 1 of `critical_block`, setting the account's push name.
pub fn push_name_patch(key: &SyncKey, push_name: &str) -> Vec<u8> {
    let keys = expand_app_state_keys(&key.data);
    let index = serde_json::to_vec(&["setting_pushName"]).expect("a string array encodes");
    let value = wa::SyncActionValue {
        timestamp: Some(chrono::Utc::now().timestamp_millis()),
        push_name_setting: waproto::buffa::MessageField::some(
            wa::sync_action_value::PushNameSetting {
                name: Some(push_name.to_string()),
            },
        ),
        ..Default::default()
    };
    let (mutation, _) = encode_record(
        wa::syncd_mutation::SyncdOperation::SET,
        &index,
        &value,
        &keys,
        &key.id,
        &rand::random(),
        1,
    );
    let mutations = vec![mutation];
    let mut state = HashState::default();
    let (_, applied) = state.update_hash(&mutations, |_, _| Ok(None));
    applied.expect("a first SET has no previous value to find");
    state.version = 1;
    let mut patch = wa::SyncdPatch {
        version: waproto::buffa::MessageField::some(wa::SyncdVersion { version: Some(1) }),
        snapshot_mac: Some(state.generate_snapshot_mac(CRITICAL_BLOCK, &keys.snapshot_mac)),
        key_id: waproto::buffa::MessageField::some(wa::KeyId {
            id: Some(key.id.clone()),
        }),
        mutations,
        ..Default::default()
    };
    patch.patch_mac = Some(generate_patch_mac(
        &patch,
        CRITICAL_BLOCK,
        &keys.patch_mac,
        1,
    ));
    waproto::codec::syncd_patch_to_vec(&patch)
}

/// The mutations of a patch a companion sent, decrypted and MAC-checked with the account's
/// sync key: each index (`["deleteMessageForMe", chat, id, fromMe, participant]`) and value.
/// A patch under another key, or one that does not decode, yields nothing (and is logged).
pub fn decrypt_patch(
    key: &SyncKey,
    patch: &[u8],
) -> Vec<(Vec<String>, Option<wa::SyncActionValue>)> {
    use waproto::buffa::Message as _;
    let Ok(patch) = wa::SyncdPatch::decode_from_slice(patch) else {
        tracing::warn!("undecodable app-state patch");
        return Vec::new();
    };
    let key_id = patch
        .key_id
        .as_option()
        .and_then(|k| k.id.clone())
        .unwrap_or_default();
    if key_id != key.id {
        tracing::warn!("app-state patch under an unknown key");
        return Vec::new();
    }
    let keys = expand_app_state_keys(&key.data);
    patch
        .mutations
        .iter()
        .filter_map(|m| {
            let operation = m
                .operation
                .and_then(|o| o.as_known())
                .unwrap_or(wa::syncd_mutation::SyncdOperation::SET);
            let record = m.record.as_option()?;
            match wacore::appstate::decode_record(operation, record, &keys, &key_id, true) {
                Ok((mutation, _)) => Some((mutation.index, mutation.action_value)),
                Err(e) => {
                    tracing::warn!("app-state mutation does not decrypt: {e}");
                    None
                }
            }
        })
        .collect()
}
