//! Polls of the session's chats (both directions) with the secret their votes are
//! encrypted with, and each voter's latest choice: what `poll.vote` decrypts with and what
//! `GET .../messages/{id}` tallies. Kept as long as the message index.

use rusqlite::{OptionalExtension, params};
use wagate_api::PollOptionVotes;

use super::{GatewayStore, StoreError};

/// A poll as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoll {
    pub chat: String,
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
    /// The poll's message secret (32 bytes).
    pub secret: Vec<u8>,
    /// Unix milliseconds.
    pub at: i64,
}

impl GatewayStore {
    /// Records a poll; the first record of a chat's poll id wins (a later stanza reusing
    /// the id cannot swap the secret or the options under its voters).
    pub async fn poll_put(&self, poll: StoredPoll) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO polls (chat, id, question, options, secret, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    poll.chat,
                    poll.id,
                    poll.question,
                    serde_json::to_string(&poll.options).expect("strings serialize"),
                    poll.secret,
                    poll.at
                ],
            )
            .map(drop)
        })
        .await
    }

    /// The poll with message id `id`, when exactly one chat has one.
    pub async fn poll_by_id(&self, id: String) -> Result<Option<StoredPoll>, StoreError> {
        self.call(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT chat, id, question, options, secret, at FROM polls WHERE id = ?1 LIMIT 2",
            )?;
            let polls = statement
                .query_map(params![id], row_to_poll)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(match <[StoredPoll; 1]>::try_from(polls) {
                Ok([only]) => Some(only),
                Err(_) => None,
            })
        })
        .await
    }

    /// The poll `id` of `chat`.
    pub async fn poll(&self, chat: String, id: String) -> Result<Option<StoredPoll>, StoreError> {
        self.call(move |c| {
            c.query_row(
                "SELECT chat, id, question, options, secret, at FROM polls \
                 WHERE chat = ?1 AND id = ?2",
                params![chat, id],
                row_to_poll,
            )
            .optional()
        })
        .await
    }

    /// Records `voter`'s current choice in a poll (an empty one withdraws the vote).
    /// Votes arrive out of order: an older one than the recorded vote changes nothing.
    pub async fn poll_vote(
        &self,
        chat: String,
        poll_id: String,
        voter: String,
        selected: Vec<String>,
        at: i64,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO poll_votes (chat, poll_id, voter, selected, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (chat, poll_id, voter) DO UPDATE \
                 SET selected = excluded.selected, at = excluded.at WHERE excluded.at >= poll_votes.at",
                params![
                    chat,
                    poll_id,
                    voter,
                    serde_json::to_string(&selected).expect("strings serialize"),
                    at
                ],
            )
            .map(drop)
        })
        .await
    }

    /// Every option of `poll` with the voters whose latest vote picked it.
    pub async fn poll_tally(&self, poll: &StoredPoll) -> Result<Vec<PollOptionVotes>, StoreError> {
        let (chat, id) = (poll.chat.clone(), poll.id.clone());
        let votes: Vec<(String, Vec<String>)> = self
            .call(move |c| {
                let mut statement = c.prepare(
                    "SELECT voter, selected FROM poll_votes \
                     WHERE chat = ?1 AND poll_id = ?2 ORDER BY at, voter",
                )?;
                statement
                    .query_map(params![chat, id], |row| {
                        let selected: String = row.get(1)?;
                        Ok((
                            row.get(0)?,
                            serde_json::from_str(&selected).unwrap_or_default(),
                        ))
                    })?
                    .collect()
            })
            .await?;
        Ok(poll
            .options
            .iter()
            .map(|option| PollOptionVotes {
                option: option.clone(),
                voters: votes
                    .iter()
                    .filter(|(_, selected)| selected.contains(option))
                    .map(|(voter, _)| voter.clone())
                    .collect(),
            })
            .collect())
    }

    /// Forgets polls (and their votes) older than `cutoff` (ms).
    pub async fn polls_expire(&self, cutoff: i64) -> Result<usize, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM poll_votes WHERE (chat, poll_id) IN \
                 (SELECT chat, id FROM polls WHERE at < ?1)",
                [cutoff],
            )?;
            let expired = tx.execute("DELETE FROM polls WHERE at < ?1", [cutoff])?;
            tx.commit()?;
            Ok(expired)
        })
        .await
    }
}

/// A `polls` row selected as `chat, id, question, options, secret, at`.
fn row_to_poll(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPoll> {
    let options: String = row.get(3)?;
    Ok(StoredPoll {
        chat: row.get(0)?,
        id: row.get(1)?,
        question: row.get(2)?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        secret: row.get(4)?,
        at: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(at: i64) -> StoredPoll {
        StoredPoll {
            chat: "971501234567@s.whatsapp.net".into(),
            id: "3EB0POLL".into(),
            question: "Lunch?".into(),
            options: vec!["Pizza".into(), "Sushi".into()],
            secret: vec![7; 32],
            at,
        }
    }

    #[tokio::test]
    async fn the_tally_counts_each_voters_latest_vote() {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        let poll = poll(10);
        store.poll_put(poll.clone()).await.unwrap();
        let mut swapped = poll.clone();
        swapped.secret = vec![1; 32];
        store.poll_put(swapped).await.unwrap();
        let kept = store
            .poll(poll.chat.clone(), poll.id.clone())
            .await
            .unwrap();
        assert_eq!(kept.as_ref(), Some(&poll), "the first record wins");

        let vote = |voter: &str, selected: &[&str], at| {
            store.poll_vote(
                poll.chat.clone(),
                poll.id.clone(),
                voter.into(),
                selected.iter().map(|s| s.to_string()).collect(),
                at,
            )
        };
        vote("A", &["Pizza"], 20).await.unwrap();
        vote("B", &["Pizza", "Sushi"], 21).await.unwrap();
        vote("A", &["Sushi"], 30).await.unwrap();
        // An older vote arriving late does not undo a newer one.
        vote("A", &["Pizza"], 25).await.unwrap();
        vote("C", &["Sushi"], 22).await.unwrap();
        vote("C", &[], 40).await.unwrap();
        let tally = store.poll_tally(&poll).await.unwrap();
        assert_eq!(
            tally,
            vec![
                PollOptionVotes {
                    option: "Pizza".into(),
                    voters: vec!["B".into()],
                },
                PollOptionVotes {
                    option: "Sushi".into(),
                    voters: vec!["B".into(), "A".into()],
                },
            ]
        );
        assert_eq!(store.polls_expire(11).await.unwrap(), 1);
        assert_eq!(store.poll(poll.chat, poll.id).await.unwrap(), None);
    }
}
