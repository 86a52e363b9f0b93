//! Index of inbound media files kept under `<data>/media/`.

use rusqlite::{OptionalExtension, params};

use super::{GatewayStore, StoreError};

#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub message_id: String,
    pub mime_type: String,
    pub file_name: Option<String>,
    pub size: u64,
}

impl GatewayStore {
    pub async fn media_put(&self, media: StoredMedia, now: i64) -> Result<(), StoreError> {
        self.call(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO media (message_id, mime_type, file_name, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![media.message_id, media.mime_type, media.file_name, media.size as i64, now],
            )
            .map(|_| ())
        })
        .await
    }

    /// The media stored under `key` (its media id), or under the one media id that is
    /// `key` + `-` + a 12-digit origin (a bare message id, as apps that build the URL
    /// themselves send it; not found when two senders chose the same id).
    pub async fn media_get(&self, key: String) -> Result<Option<StoredMedia>, StoreError> {
        self.call(move |c| {
            c.query_row(
                "SELECT message_id, mime_type, file_name, size FROM media WHERE message_id = ?1 \
                 UNION ALL SELECT * FROM ( \
                   SELECT message_id, mime_type, file_name, size FROM media \
                   WHERE substr(message_id, 1, length(?1) + 1) = ?1 || '-' \
                   AND length(message_id) = length(?1) + 13 \
                   AND NOT EXISTS (SELECT 1 FROM media WHERE message_id = ?1) \
                   AND (SELECT COUNT(*) FROM media \
                        WHERE substr(message_id, 1, length(?1) + 1) = ?1 || '-' \
                        AND length(message_id) = length(?1) + 13) = 1)",
                [key],
                |r| {
                    Ok(StoredMedia {
                        message_id: r.get(0)?,
                        mime_type: r.get(1)?,
                        file_name: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// Bytes of media kept.
    pub async fn media_total(&self) -> Result<u64, StoreError> {
        self.call(|c| {
            c.query_row("SELECT COALESCE(SUM(size), 0) FROM media", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|total| total.max(0) as u64)
        })
        .await
    }

    /// Removes the oldest media until at least `bytes` are freed; their ids.
    pub async fn media_evict_oldest(&self, bytes: u64) -> Result<Vec<String>, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            let mut evicted = Vec::new();
            {
                let mut stmt = tx.prepare(
                    "SELECT message_id, size FROM media ORDER BY created_at, message_id",
                )?;
                let mut rows = stmt.query([])?;
                let mut freed = 0u64;
                while freed < bytes {
                    let Some(row) = rows.next()? else { break };
                    evicted.push(row.get::<_, String>(0)?);
                    freed += row.get::<_, i64>(1)?.max(0) as u64;
                }
            }
            for id in &evicted {
                tx.execute("DELETE FROM media WHERE message_id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(evicted)
        })
        .await
    }

    /// Removes and returns the ids of media older than `before` (unix ms).
    pub async fn media_expire(&self, before: i64) -> Result<Vec<String>, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            let ids = {
                let mut stmt = tx.prepare("SELECT message_id FROM media WHERE created_at < ?1")?;
                stmt.query_map([before], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?
            };
            tx.execute("DELETE FROM media WHERE created_at < ?1", [before])?;
            tx.commit()?;
            Ok(ids)
        })
        .await
    }
}
