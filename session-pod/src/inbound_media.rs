//! Media that anyone who messages the number sends: it comes onto the session volume
//! streamed, with a running byte cap, never whole in memory. The sender chooses the
//! declared size and the bytes, so neither is believed: a file that grows past the cap is
//! cut off and deleted, and the message is still delivered, saying why its media is
//! missing (a refused attachment must not make WhatsApp redeliver it forever).

use std::future::Future;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What became of an inbound attachment's bytes.
#[derive(Debug, Clone)]
pub enum AttachmentContent {
    /// Streamed into a temporary file on the session volume (the real engine).
    File { path: PathBuf, size: u64 },
    /// Held in memory: the simulator engine and sandbox, whose bodies the API limits.
    Bytes(Vec<u8>),
    /// Not kept; why, in words for the webhook's `media.error`.
    Missing(String),
}

impl AttachmentContent {
    /// The reason a message names when its media is larger than `cap`.
    pub fn too_large(cap: u64) -> Self {
        Self::Missing(format!(
            "larger than the {} MiB limit for inbound media",
            cap / (1024 * 1024)
        ))
    }
}

/// A file that refuses to grow past `cap` bytes. whatsapp-rust's streaming download writes
/// the decrypted media into it; past the cap the write fails and the download stops.
pub struct CappedFile {
    /// Buffered: the library writes each 16-byte AES block on its own.
    file: BufWriter<std::fs::File>,
    cap: u64,
    position: u64,
    len: u64,
    exceeded: Arc<AtomicBool>,
}

impl CappedFile {
    pub fn new(file: std::fs::File, cap: u64, exceeded: Arc<AtomicBool>) -> Self {
        Self {
            file: BufWriter::with_capacity(64 * 1024, file),
            cap,
            position: 0,
            len: 0,
            exceeded,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Write for CappedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.position + buf.len() as u64 > self.cap {
            self.exceeded.store(true, Ordering::SeqCst);
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "inbound media is larger than the cap",
            ));
        }
        let written = self.file.write(buf)?;
        self.position += written as u64;
        self.len = self.len.max(self.position);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for CappedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.position = self.file.seek(to)?;
        Ok(self.position)
    }
}

impl whatsapp_rust::download::DownloadWriter for CappedFile {
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().set_len(len)?;
        self.len = len;
        Ok(())
    }
}

/// Downloads one attachment through `download` into `<incoming>/<uuid>.part`, at most
/// `cap` bytes. A declared size over the cap is refused before anything is fetched.
pub async fn download_to_volume<F, Fut, E>(
    incoming: &Path,
    cap: u64,
    declared_size: u64,
    download: F,
) -> AttachmentContent
where
    F: FnOnce(CappedFile) -> Fut,
    Fut: Future<Output = Result<CappedFile, E>>,
    E: std::fmt::Display,
{
    if declared_size > cap {
        return AttachmentContent::too_large(cap);
    }
    let path = incoming.join(format!("{}.part", uuid::Uuid::new_v4()));
    let file = {
        let (incoming, path) = (incoming.to_path_buf(), path.clone());
        tokio::task::spawn_blocking(move || {
            crate::private_files::private_dir(&incoming)?;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
        })
        .await
    };
    let file = match file {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot create a file for inbound media");
            return AttachmentContent::Missing("the gateway could not store it".into());
        }
        Err(e) => {
            tracing::error!(error = %e, "inbound media task failed");
            return AttachmentContent::Missing("the gateway could not store it".into());
        }
    };
    let exceeded = Arc::new(AtomicBool::new(false));
    let downloaded = download(CappedFile::new(file, cap, exceeded.clone()))
        .await
        .map_err(|e| e.to_string())
        .and_then(|mut written| written.flush().map(|()| written).map_err(|e| e.to_string()));
    match downloaded {
        Ok(written) => AttachmentContent::File {
            path,
            size: written.len(),
        },
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            if exceeded.load(Ordering::SeqCst) {
                tracing::warn!(cap, "inbound media past the cap; cut off and dropped");
                AttachmentContent::too_large(cap)
            } else {
                tracing::warn!(error = %e, "inbound media download failed");
                AttachmentContent::Missing("the download from WhatsApp failed".into())
            }
        }
    }
}

/// The default media quota: 80 % of the volume the session folder is on, or 1 GiB when
/// the volume's size cannot be read.
pub fn default_quota(dir: &Path) -> u64 {
    const FALLBACK: u64 = 1024 * 1024 * 1024;
    volume_size(dir).map_or(FALLBACK, |total| total / 5 * 4)
}

fn volume_size(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` is written by statvfs before it is
    // read (only when it returns 0).
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    Some(stats.f_blocks as u64 * stats.f_frsize as u64).filter(|&total| total > 0)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_capped_file_takes_up_to_the_cap_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let exceeded = Arc::new(AtomicBool::new(false));
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        let mut capped = CappedFile::new(file, 10, exceeded.clone());
        capped.write_all(b"0123456789").unwrap();
        assert!(capped.write_all(b"x").is_err());
        capped.flush().unwrap();
        assert!(exceeded.load(Ordering::SeqCst));
        let mut written = String::new();
        std::fs::File::open(dir.path().join("f"))
            .unwrap()
            .read_to_string(&mut written)
            .unwrap();
        assert_eq!(written, "0123456789");
        // A retry rewinds and truncates: the cap counts from the start again.
        whatsapp_rust::download::DownloadWriter::truncate(&mut capped, 0).unwrap();
        capped.rewind().unwrap();
        capped.write_all(b"abc").unwrap();
        assert_eq!(capped.len(), 3);
    }

    #[tokio::test]
    async fn a_declared_size_over_the_cap_is_not_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let fetched = Arc::new(AtomicBool::new(false));
        let flag = fetched.clone();
        let content = download_to_volume(dir.path(), 100, 101, |w| async move {
            flag.store(true, Ordering::SeqCst);
            Ok::<_, String>(w)
        })
        .await;
        assert!(matches!(content, AttachmentContent::Missing(_)));
        assert!(!fetched.load(Ordering::SeqCst));
    }

    /// A CDN stand-in that streams `total` bytes whatever was declared, counting them.
    struct EndlessCdn {
        total: u64,
        served: Arc<std::sync::atomic::AtomicU64>,
    }

    struct Endless {
        left: u64,
        served: Arc<std::sync::atomic::AtomicU64>,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (buf.len() as u64).min(self.left) as usize;
            buf[..n].fill(0x5a);
            self.left -= n as u64;
            self.served.fetch_add(n as u64, Ordering::SeqCst);
            Ok(n)
        }
    }

    #[async_trait::async_trait]
    impl whatsapp_rust::http::HttpClient for EndlessCdn {
        async fn execute(
            &self,
            _request: whatsapp_rust::http::HttpRequest,
        ) -> anyhow::Result<whatsapp_rust::http::HttpResponse> {
            anyhow::bail!("only streaming downloads are served here")
        }

        fn supports_streaming(&self) -> bool {
            true
        }

        fn execute_streaming(
            &self,
            _request: whatsapp_rust::http::HttpRequest,
        ) -> anyhow::Result<whatsapp_rust::wacore::net::StreamingHttpResponse> {
            Ok(whatsapp_rust::wacore::net::StreamingHttpResponse {
                status_code: 200,
                body: Box::new(Endless {
                    left: self.total,
                    served: self.served.clone(),
                }),
            })
        }
    }

    /// The library's own streaming download (what the real engine runs, here over a CDN
    /// stand-in) fed 200 MiB for media declared as 1 KiB: cut off at the cap and nothing
    /// left on disk. (The session process's memory during such a download is measured by
    /// the real-engine test in `tests/it/real_engine_e2e.rs`, where no other test shares it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lying_sender_cannot_fill_memory_or_disk() {
        use whatsapp_rust::download::{
            DownloadParams, MediaDownloader, MediaHost, MediaRoute, MediaType,
        };
        const CAP: u64 = 8 * 1024 * 1024;
        const SENT: u64 = 200 * 1024 * 1024;
        let dir = tempfile::tempdir().unwrap();
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let downloader = MediaDownloader::new(
            Arc::new(EndlessCdn {
                total: SENT,
                served: served.clone(),
            }),
            Arc::new(whatsapp_rust::TokioRuntime),
            MediaRoute {
                hosts: vec![MediaHost::new("cdn.invalid")],
                auth: None,
            },
        );
        let params = DownloadParams::encrypted(
            "/v/t62/lying",
            &[7u8; 32],
            &[1u8; 32],
            &[2u8; 32],
            1024,
            MediaType::Document,
        );
        let content = download_to_volume(dir.path(), CAP, 1024, |writer| {
            downloader.download_to_writer(&params, writer)
        })
        .await;

        assert!(
            matches!(&content, AttachmentContent::Missing(why) if why.contains("limit")),
            "{content:?}"
        );
        let read = served.load(Ordering::SeqCst);
        assert!(
            read < SENT / 4,
            "read {read} bytes of {SENT} before stopping"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a partial file was left behind"
        );
    }

    #[test]
    fn the_default_quota_is_most_of_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let quota = default_quota(dir.path());
        assert!(quota > 0);
        assert_eq!(volume_size(dir.path()).map(|t| t / 5 * 4), Some(quota));
    }
}
