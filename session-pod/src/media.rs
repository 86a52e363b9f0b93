//! Inbound media files under `<data>/media/`, pruned after the retention period.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::inbound_media::AttachmentContent;

/// Where a session keeps the bytes of inbound media.
#[derive(Clone)]
pub struct MediaDir {
    dir: PathBuf,
}

/// The id inbound media is kept and served under: the message id plus a digest of the chat
/// and the sender. A message id is chosen by the sender, so on its own it would let one
/// stranger overwrite or read in place of another's media by reusing an id.
pub fn media_id(message_id: &str, chat: &str, sender: &str) -> String {
    use sha2::{Digest, Sha256};
    let origin = Sha256::new()
        .chain_update(chat.as_bytes())
        .chain_update([0])
        .chain_update(sender.as_bytes())
        .finalize();
    format!("{message_id}-{}", &hex::encode(origin)[..12])
}

/// Everything but RFC 3986's unreserved characters is encoded in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment for `id`: percent-encoded, since sender-chosen ids may hold anything.
pub fn url_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
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
        // Anything else gets a fixed-length name (a long id in hex would pass the file
        // system's 255-byte limit, and its store would fail on every redelivery).
        let name = if safe {
            message_id.to_string()
        } else {
            use sha2::{Digest, Sha256};
            format!("x{}", hex::encode(Sha256::digest(message_id.as_bytes())))
        };
        self.dir.join(name)
    }

    /// Downloads in progress; emptied when the session opens (a crash mid-download leaves
    /// only what nothing refers to).
    pub fn incoming(&self) -> PathBuf {
        self.dir.join(".incoming")
    }

    pub async fn clear_incoming(&self) {
        let _ = tokio::fs::remove_dir_all(self.incoming()).await;
    }

    /// Puts an attachment in place under `media_id`: a downloaded file is renamed (it is on
    /// the same volume), bytes are written. `Ok(None)` for content that was not kept.
    pub async fn put(
        &self,
        media_id: &str,
        content: &AttachmentContent,
    ) -> std::io::Result<Option<u64>> {
        match content {
            AttachmentContent::File { path, size } => {
                let dir = self.dir.clone();
                tokio::task::spawn_blocking(move || crate::private_files::private_dir(&dir))
                    .await
                    .map_err(std::io::Error::other)??;
                tokio::fs::rename(path, self.path_of(media_id)).await?;
                Ok(Some(*size))
            }
            AttachmentContent::Bytes(bytes) => {
                self.save(media_id, bytes).await?;
                Ok(Some(bytes.len() as u64))
            }
            AttachmentContent::Missing(_) => Ok(None),
        }
    }

    /// Writes to a temporary name first so a crash never leaves a truncated file behind.
    pub async fn save(&self, message_id: &str, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || crate::private_files::private_dir(&dir))
            .await
            .map_err(std::io::Error::other)??;
        let path = self.path_of(message_id);
        let tmp = path.with_extension("part");
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .await?;
        file.write_all(bytes).await?;
        file.sync_data().await?;
        tokio::fs::rename(&tmp, &path).await
    }

    pub async fn remove(&self, message_id: &str) {
        let _ = tokio::fs::remove_file(self.path_of(message_id)).await;
    }
}
