//! The persistent outbox: every accepted message is a row before the API answers, with
//! its WhatsApp message id already chosen, so a resend after a crash reuses the id.

use rusqlite::{Connection, OptionalExtension, Row, params};
use wagate_api::{ErrorCode, ErrorDetail, MessageBody, MessageStatus, SendResult};

use super::index::{IndexedMessage, preview_of};
use super::{GatewayStore, StoreError, from_ms};

/// Idempotency keys dedupe retries for this long.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub to: String,
    /// Inline media bytes go to the row's `media` column, the rest to `body` as JSON.
    pub body: MessageBody,
    pub reply_to: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    /// Cap on conversations this account starts per 24 h (0 = no cap); `None` for an
    /// action on a message of an existing chat, which starts no conversation.
    pub new_chats_per_day: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub seq: i64,
    pub id: String,
    pub to: String,
    /// Without inline media bytes, except from [`GatewayStore::next_queued`].
    pub body: MessageBody,
    pub reply_to: Option<String>,
    pub status: MessageStatus,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
}

impl StoredMessage {
    /// How the message index records this message once it was sent (`None` for a failed
    /// one and for actions on other messages, which are not messages of their own).
    pub fn as_indexed(&self) -> Option<IndexedMessage> {
        if self.status == MessageStatus::Failed {
            return None;
        }
        Some(IndexedMessage {
            id: self.id.clone(),
            chat: self.to.clone(),
            sender: String::new(),
            from_me: true,
            kind: self.body.kind()?,
            at: self.sent_at.unwrap_or(self.created_at),
            read: false,
            preview: preview_of(self.body.text()),
        })
    }

    pub fn to_result(&self) -> SendResult {
        let error = self.error_code.as_ref().map(|code| ErrorDetail {
            code: serde_json::from_value(serde_json::Value::String(code.clone()))
                .unwrap_or(ErrorCode::Internal),
            message: self.error_message.clone().unwrap_or_default(),
            details: None,
        });
        SendResult {
            id: self.id.clone(),
            to: self.to.clone(),
            status: self.status,
            error,
            created_at: from_ms(self.created_at),
            sent_at: self.sent_at.map(from_ms),
            delivered_at: self.delivered_at.map(from_ms),
            read_at: self.read_at.map(from_ms),
            from_me: true,
            from: None,
            kind: self.body.kind(),
            votes: None,
        }
    }
}

/// What `enqueue` did.
#[derive(Debug)]
pub enum Enqueued {
    New(StoredMessage),
    /// The idempotency key was seen in the last 24 h: the first message, unchanged.
    Duplicate(StoredMessage),
    /// Starting this conversation would exceed the daily cap.
    NewChatCapReached,
}

const COLUMNS: &str = "seq, id, recipient, body, reply_to, status, attempts, next_attempt_at, error_code, \
                       error_message, created_at, sent_at, delivered_at, read_at";

fn row_to_message(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let body: String = row.get(3)?;
    let status: String = row.get(5)?;
    Ok(StoredMessage {
        seq: row.get(0)?,
        id: row.get(1)?,
        to: row.get(2)?,
        body: serde_json::from_str(&body).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
        reply_to: row.get(4)?,
        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Failed),
        attempts: row.get(6)?,
        next_attempt_at: row.get(7)?,
        error_code: row.get(8)?,
        error_message: row.get(9)?,
        created_at: row.get(10)?,
        sent_at: row.get(11)?,
        delivered_at: row.get(12)?,
        read_at: row.get(13)?,
    })
}

fn get_by_id(c: &Connection, id: &str) -> rusqlite::Result<Option<StoredMessage>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], row_to_message)
        .optional()
}

impl GatewayStore {
    pub async fn enqueue(&self, msg: NewMessage) -> Result<Enqueued, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            if let Some(key) = &msg.idempotency_key {
                let existing: Option<(String, i64)> = tx
                    .query_row("SELECT id, created_at FROM messages WHERE idempotency_key = ?1", [key], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                match existing {
                    Some((id, created)) if msg.created_at - created < IDEMPOTENCY_WINDOW_MS => {
                        return Ok(Enqueued::Duplicate(get_by_id(&tx, &id)?.expect("row just seen")));
                    }
                    // Outside the window the key is free again.
                    Some(_) => {
                        tx.execute("UPDATE messages SET idempotency_key = NULL WHERE idempotency_key = ?1", [key])?;
                    }
                    None => {}
                }
            }
            if let Some(cap) = msg.new_chats_per_day
                && !start_conversation(&tx, &msg.to, msg.created_at, cap)?
            {
                return Ok(Enqueued::NewChatCapReached);
            }
            let mut body = msg.body;
            let inline_media = body.take_inline_bytes();
            tx.execute(
                "INSERT INTO messages (id, recipient, body, media, reply_to, status, idempotency_key, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7)",
                params![
                    msg.id,
                    msg.to,
                    serde_json::to_string(&body).expect("body serializes"),
                    inline_media,
                    msg.reply_to,
                    msg.idempotency_key,
                    msg.created_at
                ],
            )?;
            let stored = get_by_id(&tx, &msg.id)?.expect("row just inserted");
            tx.commit()?;
            Ok(Enqueued::New(stored))
        })
        .await
    }

    pub async fn message(&self, id: String) -> Result<Option<StoredMessage>, StoreError> {
        self.call(move |c| get_by_id(c, &id)).await
    }

    /// The head of the queue (oldest queued message), its inline media bytes back in its body.
    pub async fn next_queued(&self) -> Result<Option<StoredMessage>, StoreError> {
        self.call(|c| {
            let head = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM messages WHERE status = 'queued' ORDER BY seq LIMIT 1"),
                    [],
                    row_to_message,
                )
                .optional()?;
            let Some(mut head) = head else { return Ok(None) };
            let media: Option<Vec<u8>> =
                c.query_row("SELECT media FROM messages WHERE seq = ?1", [head.seq], |r| r.get(0))?;
            if let Some(media) = media {
                head.body = head.body.with_inline_bytes(media);
            }
            Ok(Some(head))
        })
        .await
    }

    pub async fn queued_count(&self) -> Result<i64, StoreError> {
        self.call(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM messages WHERE status = 'queued'",
                [],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Counts an attempt before it is made, so a crash mid-send is visible after restart.
    pub async fn record_attempt(&self, id: String) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE messages SET attempts = attempts + 1 WHERE id = ?1",
                [id],
            )
            .map(|_| ())
        })
        .await
    }

    /// Gives back an attempt that never reached WhatsApp (the session was offline).
    pub async fn forget_attempt(&self, id: String) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE messages SET attempts = MAX(attempts - 1, 0) WHERE id = ?1",
                [id],
            )
            .map(|_| ())
        })
        .await
    }

    /// Keeps a message queued for another try; `attempts` is the count including the one
    /// that just failed (a failed media download counts although nothing reached WhatsApp).
    pub async fn schedule_retry(
        &self,
        id: String,
        attempts: u32,
        next_attempt_at: i64,
        error: String,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE messages SET attempts = ?4, next_attempt_at = ?2, error_message = ?3 WHERE id = ?1",
                params![id, next_attempt_at, error, attempts],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn mark_sent(
        &self,
        id: String,
        at: i64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.call(move |c| {
            // One transaction with the index row: a sent message is in the index as soon
            // as it is `sent`, at the cost of one commit on the hot path, not two.
            let tx = c.transaction()?;
            tx.prepare_cached(
                "UPDATE messages SET status = 'sent', sent_at = ?2, media = NULL, error_message = NULL \
                 WHERE id = ?1 AND status = 'queued'",
            )?
            .execute(params![id, at])?;
            let message = get_by_id(&tx, &id)?;
            if let Some(own) = message.as_ref().and_then(StoredMessage::as_indexed) {
                super::index::insert_indexed(&tx, &own)?;
            }
            tx.commit()?;
            Ok(message)
        })
        .await
    }

    pub async fn mark_failed(
        &self,
        id: String,
        code: ErrorCode,
        message: String,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE messages SET status = 'failed', media = NULL, error_code = ?2, error_message = ?3 WHERE id = ?1",
                params![id, code.as_str(), message],
            )?;
            get_by_id(c, &id)
        })
        .await
    }

    /// Moves a message forward (never back) on a delivery/read receipt; `None` when the
    /// id is unknown or the receipt is stale.
    pub async fn apply_receipt(
        &self,
        id: String,
        status: MessageStatus,
        at: i64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.call(move |c| {
            let Some(current) = get_by_id(c, &id)? else { return Ok(None) };
            let moves_forward = current.status != MessageStatus::Failed && status.rank() > current.status.rank();
            if !moves_forward {
                return Ok(None);
            }
            let column = match status {
                MessageStatus::Read => "read_at",
                _ => "delivered_at",
            };
            c.execute(
                &format!(
                    "UPDATE messages SET status = ?2, {column} = ?3, sent_at = COALESCE(sent_at, ?3), \
                     delivered_at = COALESCE(delivered_at, ?3) WHERE id = ?1"
                ),
                params![id, status.as_str(), at],
            )?;
            get_by_id(c, &id)
        })
        .await
    }

    /// Someone wrote to us: replying to them does not start a new conversation.
    pub async fn note_inbound_chat(&self, jid: String, at: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO conversations (jid, started_at, inbound) VALUES (?1, ?2, 1)",
                params![jid, at],
            )
            .map(|_| ())
        })
        .await
    }
}

/// Records `jid` as a conversation; false when it is new and the daily cap is reached.
fn start_conversation(c: &Connection, jid: &str, now: i64, cap: u32) -> rusqlite::Result<bool> {
    let known: bool = c.query_row(
        "SELECT EXISTS(SELECT 1 FROM conversations WHERE jid = ?1)",
        [jid],
        |r| r.get(0),
    )?;
    if known {
        return Ok(true);
    }
    if cap > 0 {
        let started: u32 = c.query_row(
            "SELECT COUNT(*) FROM conversations WHERE inbound = 0 AND started_at > ?1",
            [now - DAY_MS],
            |r| r.get(0),
        )?;
        if started >= cap {
            return Ok(false);
        }
    }
    c.execute(
        "INSERT INTO conversations (jid, started_at, inbound) VALUES (?1, ?2, 0)",
        params![jid, now],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: &str, to: &str, key: Option<&str>, at: i64, cap: u32) -> NewMessage {
        NewMessage {
            id: id.into(),
            to: to.into(),
            body: MessageBody::Text {
                text: "hi".into(),
                mentions: Vec::new(),
            },
            reply_to: None,
            idempotency_key: key.map(String::from),
            created_at: at,
            new_chats_per_day: Some(cap),
        }
    }

    fn store() -> (tempfile::TempDir, GatewayStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = GatewayStore::open(dir.path()).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn new_conversation_cap_counts_only_chats_we_start() {
        let (_dir, store) = store();
        let now = 10 * DAY_MS;
        assert!(matches!(
            store.enqueue(text("a", "1@s", None, now, 2)).await.unwrap(),
            Enqueued::New(_)
        ));
        assert!(matches!(
            store.enqueue(text("b", "2@s", None, now, 2)).await.unwrap(),
            Enqueued::New(_)
        ));
        assert!(matches!(
            store.enqueue(text("c", "3@s", None, now, 2)).await.unwrap(),
            Enqueued::NewChatCapReached
        ));
        // Known chats and chats the other side opened stay open.
        assert!(matches!(
            store.enqueue(text("d", "1@s", None, now, 2)).await.unwrap(),
            Enqueued::New(_)
        ));
        store.note_inbound_chat("4@s".into(), now).await.unwrap();
        assert!(matches!(
            store.enqueue(text("e", "4@s", None, now, 2)).await.unwrap(),
            Enqueued::New(_)
        ));
        // A day later the window has moved on.
        assert!(matches!(
            store
                .enqueue(text("f", "3@s", None, now + DAY_MS + 1, 2))
                .await
                .unwrap(),
            Enqueued::New(_)
        ));
    }

    #[tokio::test]
    async fn idempotency_keys_expire_after_a_day() {
        let (_dir, store) = store();
        let t0 = 1_000;
        assert!(matches!(
            store
                .enqueue(text("a", "1@s", Some("k"), t0, 0))
                .await
                .unwrap(),
            Enqueued::New(_)
        ));
        let Enqueued::Duplicate(first) = store
            .enqueue(text("b", "1@s", Some("k"), t0 + 5, 0))
            .await
            .unwrap()
        else {
            panic!("duplicate within the window");
        };
        assert_eq!(first.id, "a");
        assert!(matches!(
            store
                .enqueue(text("c", "1@s", Some("k"), t0 + IDEMPOTENCY_WINDOW_MS, 0))
                .await
                .unwrap(),
            Enqueued::New(_)
        ));
    }

    #[tokio::test]
    async fn receipts_only_move_status_forward_and_never_revive_failures() {
        let (_dir, store) = store();
        store.enqueue(text("a", "1@s", None, 1, 0)).await.unwrap();
        store.mark_sent("a".into(), 2).await.unwrap();
        let read = store
            .apply_receipt("a".into(), MessageStatus::Read, 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.status, read.delivered_at, read.read_at),
            (MessageStatus::Read, Some(3), Some(3))
        );
        assert!(
            store
                .apply_receipt("a".into(), MessageStatus::Delivered, 4)
                .await
                .unwrap()
                .is_none()
        );
        store.enqueue(text("b", "1@s", None, 1, 0)).await.unwrap();
        store
            .mark_failed("b".into(), ErrorCode::NumberNotOnWhatsapp, "no".into())
            .await
            .unwrap();
        assert!(
            store
                .apply_receipt("b".into(), MessageStatus::Delivered, 4)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .apply_receipt("unknown".into(), MessageStatus::Read, 4)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_queue_head_is_the_oldest_queued_message_with_its_media() {
        let (_dir, store) = store();
        let media_body = |bytes: Vec<u8>| MessageBody::Media {
            kind: wagate_api::MediaType::Image,
            source: wagate_api::MediaSource::Inline { bytes },
            mime_type: "image/png".into(),
            file_name: None,
            caption: None,
            mentions: Vec::new(),
            ptt: false,
        };
        let mut media = text("m", "1@s", None, 1, 0);
        media.body = media_body(vec![1, 2, 3]);
        store.enqueue(media).await.unwrap();
        store.enqueue(text("t", "1@s", None, 2, 0)).await.unwrap();
        let head = store.next_queued().await.unwrap().unwrap();
        assert_eq!(head.id, "m");
        assert_eq!(head.body, media_body(vec![1, 2, 3]));
        // Elsewhere the body reads back without the bytes (they stay in their column).
        let stored = store.message("m".into()).await.unwrap().unwrap();
        assert_eq!(stored.body, media_body(Vec::new()));
        store.mark_sent("m".into(), 3).await.unwrap();
        assert_eq!(store.next_queued().await.unwrap().unwrap().id, "t");
        assert_eq!(store.queued_count().await.unwrap(), 1);
    }
}
