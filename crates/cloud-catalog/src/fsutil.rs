//! Writing without leaving half-written files behind: a staging directory next to the target
//! that is removed unless committed, and atomic file replacement (write a sibling, then rename).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

/// A directory `<parent>/.<name>.tmp-<random>`, removed on drop unless [`StagingDir::commit`]
/// renamed it into place. Hidden, so the catalog and deployment loaders skip it.
#[derive(Debug)]
pub(crate) struct StagingDir {
    path: PathBuf,
    committed: bool,
}

impl StagingDir {
    pub(crate) fn new(parent: &Path, name: &str) -> io::Result<Self> {
        std::fs::create_dir_all(parent)?;
        let tag: u32 = rand::thread_rng().gen();
        let path = parent.join(format!(".{name}.tmp-{tag:08x}"));
        std::fs::create_dir(&path)?;
        Ok(StagingDir { path, committed: false })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Move the staged directory to `dest`, which must not exist. (`rename` onto an existing
    /// empty directory would succeed on Unix, so this checks first; the window between the check
    /// and the rename is acceptable for a CLI run by people.)
    pub(crate) fn commit(mut self, dest: &Path) -> io::Result<()> {
        if dest.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", dest.display()),
            ));
        }
        std::fs::rename(&self.path, dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Replace `path`'s content atomically: readers see the old file or the new one, never half.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tag: u32 = rand::thread_rng().gen();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{tag:08x}"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
