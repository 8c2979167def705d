//! Stack locks of the local backend: one JSON file per running update under
//! `.pulumi/locks/organization/<project>/<stack>/<uuid>.json`.
//!
//! Taking the lock is check → write → check again (two processes racing both see each other and
//! the loser removes its file), exactly as Pulumi's diy backend does. `pulumi cancel` deletes
//! every lock file of the stack; it does not stop a running process.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, StackRef};
use crate::error::{Context, Result, StandinError};

/// What a lock file holds (same fields as Pulumi's `lockContent`).
#[derive(Debug, Serialize, Deserialize)]
struct LockContent {
    pid: u32,
    username: String,
    hostname: String,
    timestamp: chrono::DateTime<chrono::FixedOffset>,
}

/// Proof that this process holds the stack lock. Work that must run under the lock takes a
/// `&StackLock`; dropping it does NOT release the lock (a crash must leave it behind) —
/// call [`StackLock::release`].
#[derive(Debug)]
pub struct StackLock {
    path: PathBuf,
}

impl StackLock {
    pub fn acquire(backend: &Backend, stack: &StackRef) -> Result<StackLock> {
        let dir = backend.lock_dir(stack);
        check_for_lock(backend, stack, None)?;
        std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{}.json", uuid::Uuid::new_v4()));
        let content = LockContent {
            pid: std::process::id(),
            username: username(),
            hostname: hostname(),
            timestamp: chrono::Local::now().fixed_offset(),
        };
        let text = serde_json::to_string(&content).context(|| "encoding lock".into())?;
        std::fs::write(&path, text).context(|| format!("writing {}", path.display()))?;
        if let Err(e) = check_for_lock(backend, stack, Some(&path)) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(StackLock { path })
    }

    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Fails with the contract's "currently locked" text when any lock other than `ours` exists.
fn check_for_lock(backend: &Backend, stack: &StackRef, ours: Option<&PathBuf>) -> Result<()> {
    let mut others = lock_files(backend, stack)?;
    others.retain(|p| Some(p) != ours);
    if others.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "the stack is currently locked by {} lock(s). Either wait for the other process(es) to end or \
         delete the lock file with `pulumi cancel`.",
        others.len()
    );
    for path in &others {
        let text = std::fs::read_to_string(path).context(|| format!("reading {}", path.display()))?;
        let lock: LockContent =
            serde_json::from_str(&text).context(|| format!("could not read lock {}", path.display()))?;
        message.push_str(&format!(
            "\n  {}: created by {}@{} (pid {}) at {}",
            backend.url_of(path),
            lock.username,
            lock.hostname,
            lock.pid,
            lock.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    Err(StandinError::Failed(message))
}

/// Every lock file of the stack, sorted.
pub fn lock_files(backend: &Backend, stack: &StackRef) -> Result<Vec<PathBuf>> {
    let dir = backend.lock_dir(stack);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(|| format!("listing {}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// `pulumi cancel` on the local backend: delete all lock files. Returns how many were removed.
pub fn break_locks(backend: &Backend, stack: &StackRef) -> Result<usize> {
    let files = lock_files(backend, stack)?;
    for f in &files {
        std::fs::remove_file(f).context(|| format!("deleting {}", f.display()))?;
    }
    Ok(files.len())
}

fn username() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions.
            format!("uid{}", unsafe { libc::getuid() })
        })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
