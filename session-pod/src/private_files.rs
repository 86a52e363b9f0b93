//! Session folders hold the WhatsApp identity keys (`whatsapp.db`), the queue and the
//! media strangers sent: readable by the gateway's user only, whoever else shares the host
//! or the volume.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// New files and folders of this process are private (0600 / 0700), including the ones
/// libraries create (whatsapp-rust's store, SQLite's WAL and shared-memory files). Binaries
/// call it first thing.
pub fn restrict_new_files() {
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (and its parents) if needed and makes it 0700, also when it existed.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Makes `file` 0600 if it exists (files written before the mask was set, by older
/// versions, or restored from a backup).
pub fn private_file(file: &Path) -> std::io::Result<()> {
    match std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Every file directly in `dir` and in its `media/` folder made 0600, the folders 0700.
pub fn restrict_session_folder(dir: &Path) -> std::io::Result<()> {
    private_dir(dir)?;
    for folder in [dir.to_path_buf(), dir.join("media")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                private_dir(&path)?;
            } else if entry.file_type().is_ok_and(|t| t.is_file()) {
                private_file(&path)?;
            }
        }
    }
    Ok(())
}
