//! The data directory: exists (or can be created), writable.

use std::path::{Path, PathBuf};

use super::check::{Check, Status};

/// What a directory the app writes to looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DirState {
    /// It exists and a file could be created in it.
    Writable,
    /// It does not exist yet; its nearest existing ancestor (given) is writable.
    WillCreate(PathBuf),
}

/// Whether `dir` can be written (a probe file is created and removed), or created under its
/// nearest existing ancestor. Creates nothing that stays.
pub(super) fn dir_status(dir: &Path) -> Result<DirState, String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => probe(dir).map(|()| DirState::Writable),
        Ok(_) => Err(format!("{} exists and is not a directory", dir.display())),
        // Missing, or a path through a file (ENOTDIR): find the nearest existing ancestor.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
            let abs = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|c| c.join(dir))
                    .unwrap_or_else(|_| dir.to_path_buf())
            };
            let mut parent = abs.parent();
            while let Some(p) = parent {
                match std::fs::metadata(p) {
                    Ok(m) if m.is_dir() => {
                        return probe(p)
                            .map(|()| DirState::WillCreate(p.to_path_buf()))
                            .map_err(|why| format!("{} does not exist and cannot be created: {why}", dir.display()));
                    }
                    Ok(_) => {
                        return Err(format!(
                            "{} cannot be created: {} is not a directory",
                            dir.display(),
                            p.display()
                        ))
                    }
                    Err(_) => parent = p.parent(),
                }
            }
            Err(format!(
                "{} cannot be created: no existing parent directory",
                dir.display()
            ))
        }
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}

pub(super) fn probe(dir: &Path) -> Result<(), String> {
    let file = dir.join(format!(".cloud-doctor-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&file) {
        Ok(_) => {
            let _ = std::fs::remove_file(&file);
            Ok(())
        }
        Err(e) => Err(format!("{} is not writable ({e})", dir.display())),
    }
}

pub(super) fn check_data_dir(dir: &Path) -> Check {
    const NAME: &str = "data dir";
    match dir_status(dir) {
        Ok(DirState::Writable) => Check::ok(NAME, format!("{} (writable)", dir.display())),
        Ok(DirState::WillCreate(parent)) => Check::ok(
            NAME,
            format!(
                "{} (created on first use; {} is writable)",
                dir.display(),
                parent.display()
            ),
        ),
        Err(why) => Check::with(
            NAME,
            Status::Fail,
            why,
            "set `data_dir` in the configuration, CLOUD_DATA_DIR or --data-dir to a writable directory",
        ),
    }
}
