//! Reading files that people (or attackers) point the tool at: manifests, `stack.yaml`,
//! templates, configuration, price lists, secret files, event logs.
//!
//! Every such read goes through [`read_text`] / [`read_bytes`]: regular files only (a FIFO would
//! block the reader forever, `/dev/zero` or `/dev/urandom` would fill memory), opened without
//! blocking, and never more than a cap per kind of file. YAML text is also checked for
//! pathological nesting before it reaches the parser ([`check_yaml`]).

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Caps per kind of file: far above anything real, far below what hurts a 2-core bot.
pub mod cap {
    /// A deployment manifest (the 16-stack sample is 2 KiB).
    pub(crate) const MANIFEST: u64 = 1024 * 1024;
    /// A stack's `stack.yaml`.
    pub(crate) const STACK_META: u64 = 256 * 1024;
    /// One template file.
    pub(crate) const TEMPLATE: u64 = 1024 * 1024;
    /// `config/cloud.yaml`.
    pub const CONFIG: u64 = 1024 * 1024;
    /// `config/pricing.yaml`.
    pub const PRICING: u64 = 4 * 1024 * 1024;
    /// A secret, token or passphrase file.
    pub const SECRET: u64 = 64 * 1024;
    /// An engine event log given to `cloud plan show`.
    pub const EVENT_LOG: u64 = 256 * 1024 * 1024;
}

/// Why a file was not read, worded for the person who named it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("it is not a regular file (it is {kind}); give the path of a plain file")]
    NotRegular { kind: &'static str },
    #[error("it is larger than the {cap} bytes allowed for this kind of file")]
    TooLarge { cap: u64 },
    #[error("it is not UTF-8 text")]
    NotUtf8,
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// The bytes of the regular file `path` (symlinks followed), at most `cap` of them.
///
/// The type is checked before opening (opening a FIFO for reading blocks until a writer comes)
/// and again on the open handle (the path may have been swapped in between); the handle is opened
/// with `O_NONBLOCK`, which regular files ignore, so even a swapped-in FIFO cannot block.
pub fn read_bytes(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge { cap });
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    let mut out = Vec::with_capacity(meta.len().min(cap) as usize);
    file.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(out)
}

/// The regular file `path`, opened for a reader that streams it (no size cap: the caller's
/// memory must not depend on the file's size). Same checks as [`read_bytes`].
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// [`read_bytes`] as UTF-8 text.
pub fn read_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, cap)?).map_err(|_| ReadError::NotUtf8)
}

/// YAML text this tool will hand to the parser: at most [`cloud_domain::input::MAX_YAML_DEPTH`]
/// levels, few aliases (see [`cloud_domain::input::check_yaml_shape`]).
pub fn check_yaml(text: &str) -> Result<(), String> {
    cloud_domain::input::check_yaml_shape(text, cloud_domain::input::MAX_YAML_DEPTH)
        .map_err(|e| format!("refused before parsing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.yaml");
        std::fs::write(&f, "a: 1\n").unwrap();
        assert_eq!(read_text(&f, 100).unwrap(), "a: 1\n");
        assert!(matches!(read_text(&f, 3), Err(ReadError::TooLarge { cap: 3 })));
        assert!(matches!(
            read_text(dir.path(), 100),
            Err(ReadError::NotRegular { kind: "a directory" })
        ));
        assert!(matches!(
            read_text(Path::new("/dev/zero"), 100),
            Err(ReadError::NotRegular {
                kind: "a character device"
            })
        ));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text(&fifo, 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is not a regular file (it is a FIFO (named pipe)); give the path of a plain file"
        );
        assert!(matches!(
            read_text(&dir.path().join("absent"), 100),
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_text(&f, 100), Err(ReadError::NotUtf8)));
    }
}
