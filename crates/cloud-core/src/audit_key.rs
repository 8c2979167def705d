//! The audit key: what signs the audit log's head checkpoint, kept outside the database so that
//! someone who can rewrite the database (delete the tail, re-chain a forged log) still cannot
//! produce a matching signature. A 0600 file of 64 hex characters, created on first use.
//!
//! Rotation (docs/security.md): stop the writers, verify with the old key
//! (`cloud audit verify`), move the old file aside (keep it: it proves the log up to now), start
//! again — the new key starts vouching at the next row and `verify` says since when.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::store::AuditKey;

/// Why the audit key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("the audit key {path} is readable by other users (mode {mode:04o}); run `chmod 600 {path}` and start again", path = .path.display())]
    Loose { path: PathBuf, mode: u32 },
    #[error("the audit key {path} is not 64 hex characters; restore it from your backup (a new key cannot vouch for the existing log)", path = .path.display())]
    Malformed { path: PathBuf },
    #[error("cannot use the audit key {path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Read the key at `path`, creating a new one (0600) when there is none.
pub fn load_or_create(path: &Path) -> Result<AuditKey, AuditKeyError> {
    let io = |source| AuditKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => f
                .write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
                .map_err(io)?,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AuditKeyError::Loose {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = cloud_catalog::input::read_text(path, 4096).map_err(|e| AuditKeyError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let secret = hex::decode(text.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| AuditKeyError::Malformed {
            path: path.to_path_buf(),
        })?;
    Ok(AuditKey::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_private_and_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let first = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_or_create(&path).unwrap().id, first.id);
    }

    #[test]
    fn a_key_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
