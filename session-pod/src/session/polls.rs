//! Polls on the session's side: received polls are kept with their secret, votes are
//! opened with it (the engine hands them over still encrypted), recorded and announced as
//! `poll.vote`, and a poll's tally answers with the message.

use wagate_api::{EventKind, MessageBody, PollOptionVotes, PollSpec, PollVoteData};
use whatsapp_rust::wacore::poll::{self, PollVoteCiphertext};

use super::Session;
use crate::engine::{EncryptedVote, InboundPoll};
use crate::store::{StoreError, StoredPoll};

/// The poll a message body sends, with its secret.
pub(super) fn poll_of(body: &MessageBody) -> Option<InboundPoll> {
    let MessageBody::Poll {
        question,
        options,
        selectable_count,
        secret,
    } = body
    else {
        return None;
    };
    Some(InboundPoll {
        spec: PollSpec {
            question: question.clone(),
            options: options.clone(),
            selectable_count: *selectable_count,
        },
        secret: hex::decode(secret).ok(),
    })
}

impl Session {
    /// Keeps poll `id` of `chat` (sent or received) with its secret, so the votes on it
    /// can be read. The first record of a poll wins; one without a 32-byte secret is not
    /// kept (its votes could not be read anyway).
    pub(super) async fn keep_poll(
        &self,
        chat: String,
        id: String,
        poll: InboundPoll,
        at: i64,
    ) -> Result<(), StoreError> {
        let Some(secret) = poll.secret.filter(|s| s.len() == 32) else {
            tracing::info!(
                poll = id,
                "poll without a usable secret: its votes cannot be read"
            );
            return Ok(());
        };
        let stored = StoredPoll {
            chat,
            id,
            question: poll.spec.question,
            options: poll.spec.options,
            secret,
            at,
        };
        self.store.poll_put(stored).await
    }

    /// Opens a vote on poll `target` of `chat`, records it and publishes `poll.vote`.
    /// A vote on a poll this session does not know, or one that does not open, is dropped
    /// (and acknowledged: WhatsApp redelivering it would not change that).
    #[tracing::instrument(skip_all, fields(poll = %target))]
    pub(super) async fn voted(
        &self,
        target: String,
        vote: EncryptedVote,
        (from, from_lid): (String, Option<String>),
        chat: String,
    ) -> bool {
        // A poll is kept under the chat it was sent to, which may be another name of the
        // chat the vote comes from (a LID, a number dialled in a non-canonical form): then
        // the id alone finds it when only one poll has it (the secret still has to open it).
        let found = match self.store.poll(chat.clone(), target.clone()).await {
            Ok(None) => self.store.poll_by_id(target.clone()).await,
            other => other,
        };
        let stored = match found {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                tracing::info!("vote on a poll the session does not know; dropped");
                return true;
            }
            // Worth WhatsApp's redelivery: the poll may be there once the store answers.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the poll of a vote");
                return false;
            }
        };
        let selected = match open_vote(&stored, &vote) {
            Ok(selected) => selected,
            Err(why) => {
                tracing::warn!(%why, "poll vote does not open; dropped");
                return true;
            }
        };
        if let Err(e) = self
            .store
            .poll_vote(
                stored.chat.clone(),
                target.clone(),
                from.clone(),
                selected.clone(),
                vote.cast_at,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot record a poll vote");
            return false;
        }
        let data = PollVoteData {
            poll_id: target,
            from,
            from_lid,
            chat,
            selected_options: selected,
        };
        self.events
            .publish(
                EventKind::PollVote,
                serde_json::to_value(data).expect("event data serializes"),
            )
            .await
    }

    /// The tally of poll `id` of `chat`, when the session knows that poll.
    pub(super) async fn poll_tally(&self, chat: &str, id: &str) -> Option<Vec<PollOptionVotes>> {
        let stored = self
            .store
            .poll(chat.to_string(), id.to_string())
            .await
            .ok()
            .flatten()?;
        self.store.poll_tally(&stored).await.ok()
    }
}

/// The option texts a vote picks. Votes name options by the SHA-256 of their text; a hash
/// naming no option of the poll is left out.
fn open_vote(stored: &StoredPoll, vote: &EncryptedVote) -> Result<Vec<String>, String> {
    let hashes = poll::decrypt_poll_vote_with_secret(
        PollVoteCiphertext {
            enc_payload: &vote.payload,
            enc_iv: &vote.iv,
        },
        &stored.secret,
        &stored.id,
        &vote.creator,
        &vote.voter,
    )
    .map_err(|e| e.to_string())?;
    Ok(stored
        .options
        .iter()
        .filter(|option| {
            let hash = poll::compute_option_hash(option);
            hashes.iter().any(|h| h.as_slice() == hash)
        })
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredPoll {
        StoredPoll {
            chat: "971501234567@s.whatsapp.net".into(),
            id: "3EB0POLL".into(),
            question: "Lunch?".into(),
            options: vec!["Pizza".into(), "Sushi".into(), "Salad".into()],
            secret: vec![9; 32],
            at: 0,
        }
    }

    fn vote_for(options: &[&str], voter: &str) -> EncryptedVote {
        let hashes: Vec<Vec<u8>> = options
            .iter()
            .map(|o| poll::compute_option_hash(o).to_vec())
            .collect();
        let creator = "971500000001@s.whatsapp.net";
        let (payload, iv) =
            poll::encrypt_poll_vote_with_secret(&hashes, &[9; 32], "3EB0POLL", creator, voter)
                .unwrap();
        EncryptedVote {
            payload,
            iv: iv.to_vec(),
            creator: creator.into(),
            voter: voter.into(),
            cast_at: 1,
        }
    }

    #[test]
    fn a_vote_opens_to_the_options_it_picked_in_poll_order() {
        let vote = vote_for(
            &["Salad", "Pizza", "Not an option"],
            "971501234567@s.whatsapp.net",
        );
        assert_eq!(open_vote(&stored(), &vote).unwrap(), ["Pizza", "Salad"]);
    }

    #[test]
    fn a_vote_claimed_by_someone_else_does_not_open() {
        let mut vote = vote_for(&["Pizza"], "971501234567@s.whatsapp.net");
        vote.voter = "971509999999@s.whatsapp.net".into();
        assert!(open_vote(&stored(), &vote).is_err());
    }
}
