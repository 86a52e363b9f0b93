//! Inbound media files under `<data>/media/`, pruned after the retention period.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

/// Where a session keeps the bytes of inbound media.
#[derive(Clone)]
pub struct MediaDir {
    dir: PathBuf,
}

impl MediaDir {
    pub fn new(session_dir: &Path) -> Self {
        Self {
            dir: session_dir.join("media"),
        }
    }

    /// Message ids come from the network: never let one name a path outside the folder.
    pub fn path_of(&self, message_id: &str) -> PathBuf {
        let safe = !message_id.is_empty()
            && message_id.len() <= 128
            && message_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let name = if safe {
            message_id.to_string()
        } else {
            format!("x{}", hex::encode(message_id))
        };
        self.dir.join(name)
    }

    /// Writes to a temporary name first so a crash never leaves a truncated file behind.
    pub async fn save(&self, message_id: &str, bytes: &[u8]) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.path_of(message_id);
        let tmp = path.with_extension("part");
        let mut file = tokio::fs::File::create(&tmp).await?;
        file.write_all(bytes).await?;
        file.sync_data().await?;
        tokio::fs::rename(&tmp, &path).await
    }

    pub async fn remove(&self, message_id: &str) {
        let _ = tokio::fs::remove_file(self.path_of(message_id)).await;
    }
}
