//! What a contact's phone does besides sending messages of its own: vote in a poll
//! (encrypted with the poll's secret, as WhatsApp's apps do) and show that it is typing.

use std::sync::Arc;

use wacore_binary::Jid;
use wacore_binary::builder::NodeBuilder;
use waproto::buffa::MessageField;
use waproto::whatsapp as wa;

use crate::nodes::now_secs;
use crate::world::World;

/// The poll a vote is about, as the voter's phone knows it from the poll it decrypted.
pub struct PollRef<'a> {
    pub id: &'a str,
    /// The chat it was sent in (the creator's JID for a direct chat, from the voter's side).
    pub chat: &'a str,
    /// The creator's user JID (`digits@s.whatsapp.net`), which keys the vote.
    pub creator: &'a str,
    /// Whether the voter created it.
    pub from_me: bool,
    /// The `messageSecret` of the poll's `messageContextInfo`.
    pub secret: &'a [u8],
}

/// The `pollUpdateMessage` voter `voter` (a user JID) sends to pick `options` (none
/// withdraws the vote).
pub fn poll_vote(poll: &PollRef<'_>, voter: &str, options: &[&str]) -> Result<wa::Message, String> {
    let hashes: Vec<Vec<u8>> = options
        .iter()
        .map(|o| wacore::poll::compute_option_hash(o).to_vec())
        .collect();
    let (payload, iv) = wacore::poll::encrypt_poll_vote_with_secret(
        &hashes,
        poll.secret,
        poll.id,
        poll.creator,
        voter,
    )
    .map_err(|e| e.to_string())?;
    Ok(wa::Message {
        poll_update_message: MessageField::some(wa::message::PollUpdateMessage {
            poll_creation_message_key: MessageField::some(wa::MessageKey {
                remote_jid: Some(poll.chat.to_string()),
                from_me: Some(poll.from_me),
                id: Some(poll.id.to_string()),
                participant: None,
            }),
            vote: MessageField::some(wa::message::PollEncValue {
                enc_payload: Some(payload),
                enc_iv: Some(iv.to_vec()),
            }),
            sender_timestamp_ms: Some(chrono::Utc::now().timestamp_millis()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// A contact's typing indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    Composing,
    Recording,
    Paused,
}

impl World {
    /// Contact `from` shows `typing` in its chat with account `to`: a `<chatstate>` to each
    /// online companion (chat states are not queued for offline devices). Returns how many
    /// got it.
    pub async fn chat_state(self: &Arc<Self>, from: &str, to: &str, typing: Typing) -> usize {
        let state = self.state.lock().await;
        let Some(account) = state.accounts.get(to) else {
            return 0;
        };
        let devices: Vec<u16> = account
            .companions
            .values()
            .filter(|c| c.linked)
            .map(|c| c.device)
            .collect();
        let child = match typing {
            Typing::Composing => NodeBuilder::new("composing").build(),
            Typing::Recording => NodeBuilder::new("composing").attr("media", "audio").build(),
            Typing::Paused => NodeBuilder::new("paused").build(),
        };
        let mut sent = 0;
        for device in devices {
            if let Some(conn) = state.conn_of(to, device) {
                conn.send(
                    NodeBuilder::new("chatstate")
                        .attr("from", Jid::pn(from))
                        .attr("t", now_secs().to_string())
                        .children([child.clone()])
                        .build(),
                );
                sent += 1;
            }
        }
        sent
    }
}
