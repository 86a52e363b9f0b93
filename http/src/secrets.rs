//! Secrets that a gateway generates on first start and keeps in its data folder
//! (an API key, the QR-link signing key), readable only by the owner.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// Reads a secret from `path` (trimmed), or creates it with `bytes` random bytes as hex.
/// Returns the secret and whether it was created now.
pub fn load_or_create(path: &Path, bytes: usize) -> std::io::Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            return Ok((existing.trim().to_string(), false));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    let secret = hex::encode(raw);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok((secret, true))
}

/// An API key generated into `path` on first start. Tells the operator where it is (the key
/// itself is never printed or logged).
pub fn generated_key(path: &Path, what: &str) -> std::io::Result<String> {
    let (key, created) = load_or_create(path, 24)?;
    if created {
        println!(
            "generated {what} in {} (send it as 'Authorization: Bearer <key>')",
            path.display()
        );
    } else {
        println!("{what}: {}", path.display());
    }
    Ok(key)
}

/// Reads a secret from a file (trailing newline trimmed), failing when it is empty.
pub fn read(path: &Path) -> std::io::Result<String> {
    let secret = std::fs::read_to_string(path)?.trim().to_string();
    if secret.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    #[test]
    fn creates_once_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/api-key");
        let (first, created) = super::load_or_create(&path, 16).unwrap();
        assert!(created && first.len() == 32);
        let (again, created) = super::load_or_create(&path, 16).unwrap();
        assert!(!created && again == first);
    }
}
