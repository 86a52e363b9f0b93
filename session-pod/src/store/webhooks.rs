//! The persistent webhook queue and its dead letters (rows with `dead_at` set).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use utoipa::ToSchema;

use super::{GatewayStore, StoreError, from_ms, now_ms};

#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub seq: i64,
    pub delivery_id: String,
    pub event: String,
    pub body: String,
    pub attempts: u32,
    pub created_at: i64,
}

/// A delivery that ran out of retries, as `GET .../webhook/dead-letters` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub delivery_id: String,
    pub event: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub dead_at: chrono::DateTime<chrono::Utc>,
    pub payload: serde_json::Value,
}

/// A delivery still in the queue (not yet delivered, not dead), as
/// `GET .../webhook/deliveries` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingDelivery {
    pub delivery_id: String,
    pub event: String,
    /// Attempts made so far (0: not tried yet).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
}

/// Counts a failed attempt in its hour, and forgets hours older than two days.
fn count_failure(c: &rusqlite::Connection, now: i64) -> rusqlite::Result<()> {
    let hour = now / 3_600_000;
    c.prepare_cached(
        "INSERT INTO webhook_failures (hour, failures) VALUES (?1, 1) \
         ON CONFLICT (hour) DO UPDATE SET failures = failures + 1",
    )?
    .execute([hour])?;
    c.prepare_cached("DELETE FROM webhook_failures WHERE hour < ?1")?
        .execute([hour - 48])
        .map(drop)
}

fn row_to_delivery(r: &Row<'_>) -> rusqlite::Result<QueuedDelivery> {
    Ok(QueuedDelivery {
        seq: r.get(0)?,
        delivery_id: r.get(1)?,
        event: r.get(2)?,
        body: r.get(3)?,
        attempts: r.get(4)?,
        created_at: r.get(5)?,
    })
}

impl GatewayStore {
    pub async fn webhook_enqueue(
        &self,
        delivery_id: String,
        event: String,
        body: String,
        now: i64,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT INTO webhook_queue (delivery_id, event, body, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![delivery_id, event, body, now],
            )
            .map(|_| ())
        })
        .await
    }

    /// Deliveries whose time has come, oldest first.
    pub async fn webhook_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<QueuedDelivery>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, delivery_id, event, body, attempts, created_at FROM webhook_queue \
                 WHERE dead_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, seq LIMIT ?2",
            )?;
            stmt.query_map(params![now, limit], row_to_delivery)?.collect()
        })
        .await
    }

    /// When the next pending delivery is due, if any.
    pub async fn webhook_next_due(&self) -> Result<Option<i64>, StoreError> {
        self.call(|c| {
            c.query_row(
                "SELECT MIN(next_attempt_at) FROM webhook_queue WHERE dead_at IS NULL",
                [],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
        })
        .await
    }

    pub async fn webhook_delivered(&self, seq: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute("DELETE FROM webhook_queue WHERE seq = ?1", [seq])
                .map(|_| ())
        })
        .await
    }

    pub async fn webhook_retry(
        &self,
        seq: i64,
        next_attempt_at: i64,
        error: String,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE webhook_queue SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE seq = ?1",
                params![seq, next_attempt_at, error],
            )?;
            count_failure(c, now_ms())
        })
        .await
    }

    pub async fn webhook_kill(&self, seq: i64, now: i64, error: String) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE webhook_queue SET attempts = attempts + 1, dead_at = ?2, last_error = ?3 WHERE seq = ?1",
                params![seq, now, error],
            )?;
            count_failure(c, now)
        })
        .await
    }

    pub async fn webhook_pending_count(&self) -> Result<i64, StoreError> {
        self.call(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM webhook_queue WHERE dead_at IS NULL",
                [],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Dead letters in the queue.
    pub async fn webhook_dead_count(&self) -> Result<i64, StoreError> {
        self.call(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM webhook_queue WHERE dead_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Failed attempts per hour since `since` (Unix ms): `(hour since the epoch, failures)`.
    pub async fn hourly_webhook_failures(&self, since: i64) -> Result<Vec<(i64, u64)>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT hour, failures FROM webhook_failures WHERE hour >= ?1 ORDER BY hour",
            )?;
            stmt.query_map([since / 3_600_000], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect()
        })
        .await
    }

    /// Deliveries waiting in the queue, oldest first.
    pub async fn pending_deliveries(&self, limit: u32) -> Result<Vec<PendingDelivery>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT delivery_id, event, attempts, last_error, created_at, next_attempt_at \
                 FROM webhook_queue WHERE dead_at IS NULL ORDER BY seq LIMIT ?1",
            )?;
            stmt.query_map([limit], |r| {
                Ok(PendingDelivery {
                    delivery_id: r.get(0)?,
                    event: r.get(1)?,
                    attempts: r.get(2)?,
                    last_error: r.get(3)?,
                    created_at: from_ms(r.get(4)?),
                    next_attempt_at: from_ms(r.get(5)?),
                })
            })?
            .collect()
        })
        .await
    }

    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT delivery_id, event, attempts, last_error, created_at, dead_at, body FROM webhook_queue \
                 WHERE dead_at IS NOT NULL ORDER BY seq LIMIT ?1",
            )?;
            stmt.query_map([limit], |r| {
                let body: String = r.get(6)?;
                Ok(DeadLetter {
                    delivery_id: r.get(0)?,
                    event: r.get(1)?,
                    attempts: r.get(2)?,
                    last_error: r.get(3)?,
                    created_at: from_ms(r.get(4)?),
                    dead_at: from_ms(r.get(5)?),
                    payload: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
                })
            })?
            .collect()
        })
        .await
    }

    /// Puts every dead letter back in the queue with a fresh retry budget and the same
    /// delivery id (receivers dedupe on it).
    pub async fn replay_dead_letters(&self, now: i64) -> Result<usize, StoreError> {
        self.call(move |c| {
            c.execute(
                "UPDATE webhook_queue SET dead_at = NULL, attempts = 0, next_attempt_at = ?1, created_at = ?1 \
                 WHERE dead_at IS NOT NULL",
                [now],
            )
        })
        .await
    }
}
