//! The account's app state (syncd), written by its phone: today the one mutation every
//! account has, `setting_pushName` in `critical_block`. The patch is encrypted and MACed
//! with the sync key the phone shares with each companion, exactly as the client checks.

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
