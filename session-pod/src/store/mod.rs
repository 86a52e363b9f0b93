//! `gateway.db`: the session's own durable state (outbox, message status, webhook queue,
//! dead letters, inbound media index, settings). SQLite in WAL mode: every accepted
//! message and event is committed before the API answers, so a crash loses nothing.

mod index;
mod media;
mod meta;
mod outbox;
mod polls;
mod sqlite_memory;
mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use index::{IndexedMessage, preview_of};
pub use media::StoredMedia;
pub use meta::MetaKey;
pub use outbox::{Enqueued, NewMessage, StoredMessage};
pub use polls::StoredPoll;
pub use sqlite_memory::{shrink_sqlite_process_wide, whatsapp_store_config};
pub use webhooks::{DeadLetter, PendingDelivery, QueuedDelivery};

pub const GATEWAY_DB: &str = "gateway.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("gateway store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("gateway store task failed: {0}")]
    Join(String),
}

/// A handle on `gateway.db`; cheap to clone. Calls run on the blocking pool so a slow
/// disk never stalls the async workers.
#[derive(Clone)]
pub struct GatewayStore {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    recipient       TEXT NOT NULL,
    body            TEXT NOT NULL,
    media           BLOB,
    reply_to        TEXT,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    error_message   TEXT,
    idempotency_key TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    delivered_at    INTEGER,
    read_at         INTEGER
);
CREATE INDEX IF NOT EXISTS messages_queued ON messages(status, seq);
CREATE TABLE IF NOT EXISTS conversations (
    jid        TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    inbound    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_queue (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_error      TEXT,
    dead_at         INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_queue(dead_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS message_index (
    id      TEXT NOT NULL,
    chat    TEXT NOT NULL,
    sender  TEXT NOT NULL,
    from_me INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    read    INTEGER NOT NULL DEFAULT 0,
    preview TEXT,
    PRIMARY KEY (chat, id)
);
CREATE INDEX IF NOT EXISTS message_index_id ON message_index(id);
CREATE INDEX IF NOT EXISTS message_index_at ON message_index(at);
CREATE INDEX IF NOT EXISTS message_index_chat_at ON message_index(chat, at);
CREATE TABLE IF NOT EXISTS push_names (
    sender TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS call_replies (
    caller TEXT PRIMARY KEY,
    at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS polls (
    chat     TEXT NOT NULL,
    id       TEXT NOT NULL,
    question TEXT NOT NULL,
    options  TEXT NOT NULL,
    secret   BLOB NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (chat, id)
);
CREATE TABLE IF NOT EXISTS poll_votes (
    chat     TEXT NOT NULL,
    poll_id  TEXT NOT NULL,
    voter    TEXT NOT NULL,
    selected TEXT NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (chat, poll_id, voter)
);
-- Failed webhook attempts per hour since the epoch, for the console's charts (kept 48 h).
CREATE TABLE IF NOT EXISTS webhook_failures (
    hour     INTEGER PRIMARY KEY,
    failures INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS media (
    message_id TEXT PRIMARY KEY,
    mime_type  TEXT NOT NULL,
    file_name  TEXT,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
"#;

impl GatewayStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        shrink_sqlite_process_wide();
        let conn = Connection::open(dir.join(GATEWAY_DB))?;
        sqlite_memory::shrink_lookaside(&conn);
        // WAL + NORMAL survives a process crash (kill -9) without an fsync per commit.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // The store is small and its hot rows few; the OS page cache serves the rest, and a
        // process holds one of these per session (SQLite's default is 2 MiB).
        conn.pragma_update(
            None,
            "cache_size",
            -i64::from(sqlite_memory::GATEWAY_CACHE_KIB),
        )?;
        conn.execute_batch(SCHEMA)?;
        add_missing_columns(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
        .map_err(StoreError::from)
    }

    /// Checkpoints the WAL so the files on the volume are self-contained (graceful stop).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.call(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
            .await
    }
}

/// Columns added after a table first shipped: `CREATE TABLE IF NOT EXISTS` leaves an
/// existing table as it was, so a volume written by an older version gets them here.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("message_index", "preview", "TEXT")];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind};"))?;
        }
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
