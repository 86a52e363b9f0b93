//! The message index: every message of the session in both directions (id, chat, author,
//! kind, time), kept `--message-index-days`, so actions by id (react, edit, revoke) know
//! whose message it is and where it lives. Bodies are not kept here: only a short preview
//! (the text or caption), what a reply quotes so the recipient's app can show the quote.

use rusqlite::{Connection, OptionalExtension, params};
use wagate_api::MessageKind;

use super::{GatewayStore, StoreError};

/// One message the index knows.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedMessage {
    pub id: String,
    /// The chat JID (the contact's, or the group's).
    pub chat: String,
    /// The author's JID (or phone digits for inbound direct messages); the session's own
    /// phone for messages it sent.
    pub sender: String,
    pub from_me: bool,
    pub kind: MessageKind,
    /// Unix milliseconds.
    pub at: i64,
    /// A received message this session marked read.
    pub read: bool,
    /// Its text or caption, cut at [`PREVIEW_MAX_CHARS`].
    pub preview: Option<String>,
}

/// Longest preview the index keeps of a message.
pub const PREVIEW_MAX_CHARS: usize = 1024;

/// `text` cut to what the index keeps.
pub fn preview_of(text: Option<&str>) -> Option<String> {
    text.map(|t| t.chars().take(PREVIEW_MAX_CHARS).collect())
}

/// Records `message` on `c` (inside the caller's transaction, if any); a second record of
/// the same one changes nothing.
pub(super) fn insert_indexed(c: &Connection, message: &IndexedMessage) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO message_index (id, chat, sender, from_me, kind, at, preview) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        message.id,
        message.chat,
        message.sender,
        message.from_me,
        kind_name(message.kind),
        message.at,
        message.preview
    ])
    .map(drop)
}

impl GatewayStore {
    /// Records a message; a second record of the same one changes nothing.
    pub async fn index_message(&self, message: IndexedMessage) -> Result<(), StoreError> {
        self.call(move |c| insert_indexed(c, &message)).await
    }

    /// The message with this id. Ids are chosen by senders, so a stranger may reuse one of
    /// ours in another chat: this session's own message wins, then the latest.
    pub async fn indexed(&self, id: String) -> Result<Option<IndexedMessage>, StoreError> {
        self.call(move |c| {
            c.query_row(
                "SELECT id, chat, sender, from_me, kind, at, read, preview FROM message_index \
                 WHERE id = ?1 ORDER BY from_me DESC, at DESC LIMIT 1",
                [id],
                row_to_indexed,
            )
            .optional()
        })
        .await
    }

    /// Message `id` of `chat`.
    pub async fn indexed_in(
        &self,
        chat: String,
        id: String,
    ) -> Result<Option<IndexedMessage>, StoreError> {
        self.call(move |c| {
            c.query_row(
                "SELECT id, chat, sender, from_me, kind, at, read, preview FROM message_index \
                 WHERE chat = ?1 AND id = ?2",
                params![chat, id],
                row_to_indexed,
            )
            .optional()
        })
        .await
    }

    /// How many chats hold a received message with this id.
    pub async fn received_chats_with(&self, id: String) -> Result<usize, StoreError> {
        self.call(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM message_index WHERE id = ?1 AND from_me = 0",
                [id],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map(|n| n as usize)
    }

    /// Received messages of `chat` not marked read yet, oldest first (at most 1,000).
    pub async fn unread_in(&self, chat: String) -> Result<Vec<IndexedMessage>, StoreError> {
        self.call(move |c| {
            let mut statement = c.prepare(
                "SELECT id, chat, sender, from_me, kind, at, read, preview FROM message_index \
                 WHERE chat = ?1 AND from_me = 0 AND read = 0 ORDER BY at LIMIT 1000",
            )?;
            statement.query_map([chat], row_to_indexed)?.collect()
        })
        .await
    }

    /// Received messages of `chat` with these ids (unknown ones are left out).
    pub async fn received_in(
        &self,
        chat: String,
        ids: Vec<String>,
    ) -> Result<Vec<IndexedMessage>, StoreError> {
        self.call(move |c| {
            let mut statement = c.prepare(
                "SELECT id, chat, sender, from_me, kind, at, read, preview FROM message_index \
                 WHERE chat = ?1 AND id = ?2 AND from_me = 0",
            )?;
            let mut found = Vec::new();
            for id in ids {
                if let Some(message) = statement
                    .query_row(params![chat, id], row_to_indexed)
                    .optional()?
                {
                    found.push(message);
                }
            }
            Ok(found)
        })
        .await
    }

    /// Notes that these messages of `chat` were marked read.
    pub async fn mark_index_read(&self, chat: String, ids: Vec<String>) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            for id in &ids {
                tx.execute(
                    "UPDATE message_index SET read = 1 WHERE chat = ?1 AND id = ?2",
                    params![chat, id],
                )?;
            }
            tx.commit()
        })
        .await
    }

    /// Forgets message `id` of `chat` (deleted for this account).
    pub async fn index_forget(&self, chat: String, id: String) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "DELETE FROM message_index WHERE chat = ?1 AND id = ?2",
                params![chat, id],
            )
            .map(drop)
        })
        .await
    }

    /// Forgets messages older than `cutoff` (ms), and push names not seen since; answers
    /// how many messages.
    pub async fn index_expire(&self, cutoff: i64) -> Result<usize, StoreError> {
        self.call(move |c| {
            c.execute("DELETE FROM push_names WHERE at < ?1", [cutoff])?;
            c.execute("DELETE FROM call_replies WHERE at < ?1", [cutoff])?;
            c.execute("DELETE FROM message_index WHERE at < ?1", [cutoff])
        })
        .await
    }

    /// Remembers the name `sender` (phone digits, or a JID) set for themselves, as their
    /// message at `at` (ms) carried it; kept as long as the index keeps messages.
    pub async fn note_push_name(
        &self,
        sender: String,
        name: String,
        at: i64,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO push_names (sender, name, at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(sender) DO UPDATE SET name = excluded.name, at = excluded.at \
                 WHERE excluded.at >= push_names.at",
            )?
            .execute(params![sender, name, at])
            .map(drop)
        })
        .await
    }

    /// The last name `sender` was seen with.
    pub async fn push_name(&self, sender: String) -> Result<Option<String>, StoreError> {
        self.call(move |c| {
            c.query_row(
                "SELECT name FROM push_names WHERE sender = ?1",
                [sender],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    /// Claims the reply to `caller`'s rejected call: `true` (and noted at `now`) when none
    /// was sent in the last `window_ms`, so a caller who rings all day gets one message.
    pub async fn claim_call_reply(
        &self,
        caller: String,
        now: i64,
        window_ms: i64,
    ) -> Result<bool, StoreError> {
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO call_replies (caller, at) VALUES (?1, ?2) \
                 ON CONFLICT(caller) DO UPDATE SET at = excluded.at \
                 WHERE call_replies.at <= ?3",
            )?
            .execute(params![caller, now, now - window_ms])
            .map(|changed| changed == 1)
        })
        .await
    }
}

/// Hours of messages the index counts per direction: `(hour since the epoch, sent,
/// received)`.
pub type HourCounts = Vec<(i64, u64, u64)>;

impl GatewayStore {
    /// A page of the index, newest first: messages of `chat` (or all chats) before
    /// `(at, id)` in that order, each with the outbox status when this gateway sent it.
    pub async fn recent_messages(
        &self,
        chat: Option<String>,
        before: (i64, String),
        limit: u32,
    ) -> Result<Vec<(IndexedMessage, Option<String>)>, StoreError> {
        const COLUMNS: &str = "SELECT i.id, i.chat, i.sender, i.from_me, i.kind, i.at, i.read, \
            i.preview, m.status FROM message_index i \
            LEFT JOIN messages m ON i.from_me = 1 AND m.id = i.id";
        self.call(move |c| {
            let (at, id) = before;
            let map = |row: &rusqlite::Row<'_>| Ok((row_to_indexed(row)?, row.get(8)?));
            // Two statements, so each walks an index: (chat, at) or (at).
            match chat {
                Some(chat) => c
                    .prepare_cached(&format!(
                        "{COLUMNS} WHERE i.chat = ?1 AND (i.at < ?2 OR (i.at = ?2 AND i.id < ?3)) \
                         ORDER BY i.at DESC, i.id DESC LIMIT ?4"
                    ))?
                    .query_map(params![chat, at, id, limit], map)?
                    .collect(),
                None => c
                    .prepare_cached(&format!(
                        "{COLUMNS} WHERE i.at < ?1 OR (i.at = ?1 AND i.id < ?2) \
                         ORDER BY i.at DESC, i.id DESC LIMIT ?3"
                    ))?
                    .query_map(params![at, id, limit], map)?
                    .collect(),
            }
        })
        .await
    }

    /// Messages sent and received per hour since `since` (Unix ms), oldest first.
    pub async fn hourly_message_counts(&self, since: i64) -> Result<HourCounts, StoreError> {
        self.call(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT at / 3600000 AS hour, SUM(from_me), SUM(1 - from_me) FROM message_index \
                 WHERE at >= ?1 GROUP BY hour ORDER BY hour",
            )?;
            statement
                .query_map([since], |row| {
                    Ok((
                        row.get(0)?,
                        row.get::<_, i64>(1)? as u64,
                        row.get::<_, i64>(2)? as u64,
                    ))
                })?
                .collect()
        })
        .await
    }
}

fn row_to_indexed(row: &rusqlite::Row<'_>) -> rusqlite::Result<IndexedMessage> {
    let kind: String = row.get(4)?;
    Ok(IndexedMessage {
        id: row.get(0)?,
        chat: row.get(1)?,
        sender: row.get(2)?,
        from_me: row.get(3)?,
        kind: serde_json::from_value(serde_json::Value::String(kind))
            .unwrap_or(MessageKind::Unknown),
        at: row.get(5)?,
        read: row.get(6)?,
        preview: row.get(7)?,
    })
}

fn kind_name(kind: MessageKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, chat: &str, at: i64) -> IndexedMessage {
        IndexedMessage {
            id: id.into(),
            chat: chat.into(),
            sender: "971501234567".into(),
            from_me: false,
            kind: MessageKind::Text,
            at,
            read: false,
            preview: Some("hello".into()),
        }
    }

    /// A volume written before the index kept previews opens, and gains the column.
    #[tokio::test]
    async fn an_index_without_previews_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        // Configures SQLite before this first connection, as the stores do (not concurrently).
        super::super::shrink_sqlite_process_wide();
        rusqlite::Connection::open(dir.path().join(super::super::GATEWAY_DB))
            .unwrap()
            .execute_batch(
                "CREATE TABLE message_index (id TEXT NOT NULL, chat TEXT NOT NULL, \
                 sender TEXT NOT NULL, from_me INTEGER NOT NULL, kind TEXT NOT NULL, \
                 at INTEGER NOT NULL, read INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (chat, id)); \
                 INSERT INTO message_index VALUES ('OLD', 'c', 's', 0, 'text', 5, 0);",
            )
            .unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        let old = store.indexed("OLD".into()).await.unwrap().unwrap();
        assert_eq!(old.preview, None);
        store.index_message(message("NEW", "c", 6)).await.unwrap();
        let new = store.indexed("NEW".into()).await.unwrap().unwrap();
        assert_eq!(new.preview.as_deref(), Some("hello"));
        drop(store);
        GatewayStore::open(dir.path()).expect("opens again once upgraded");
    }

    #[tokio::test]
    async fn finds_by_id_keeps_the_first_record_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        store
            .index_message(message("A", "1@s.whatsapp.net", 10))
            .await
            .unwrap();
        let mut again = message("A", "1@s.whatsapp.net", 99);
        again.from_me = true;
        store.index_message(again).await.unwrap();
        assert_eq!(
            store.indexed("A".into()).await.unwrap(),
            Some(message("A", "1@s.whatsapp.net", 10))
        );
        store
            .index_message(message("B", "2@s.whatsapp.net", 20))
            .await
            .unwrap();
        assert_eq!(store.index_expire(15).await.unwrap(), 1);
        assert_eq!(store.indexed("A".into()).await.unwrap(), None);
        assert!(store.indexed("B".into()).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_caller_gets_one_reply_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        let day = 86_400_000;
        let caller = || "971501234567@s.whatsapp.net".to_string();
        assert!(store.claim_call_reply(caller(), 1_000, day).await.unwrap());
        assert!(!store.claim_call_reply(caller(), 2_000, day).await.unwrap());
        assert!(!store.claim_call_reply(caller(), day, day).await.unwrap());
        assert!(
            store
                .claim_call_reply(caller(), day + 1_000, day)
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_call_reply("other@s.whatsapp.net".into(), 2_000, day)
                .await
                .unwrap()
        );
    }
}
