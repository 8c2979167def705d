//! Which process drives a session. A session moved into PLANNING or APPLYING records the process
//! that moved it (in the same transaction), so start-up recovery can tell a live owner from a
//! dead one — even when the dead one's pid was reused by another process.

use serde::Serialize;

/// A process, identified so that a reused pid is not mistaken for it: the pid plus a start id
/// (on Linux the kernel's start time of that pid, from `/proc/<pid>/stat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessOwner {
    pub pid: u32,
    pub start: String,
}

/// The kernel's start time of `pid` (clock ticks since boot), from `/proc/<pid>/stat`.
fn proc_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields after the name start at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// This process, as recorded on the sessions it drives.
pub fn this_process() -> ProcessOwner {
    let pid = std::process::id();
    let start = match proc_start_time(pid) {
        Some(ticks) => format!("proc:{ticks}"),
        // No /proc: a per-process random id (liveness then falls back to the pid alone).
        None => {
            static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            ID.get_or_init(|| format!("run:{}", uuid::Uuid::new_v4().simple()))
                .clone()
        }
    };
    ProcessOwner { pid, start }
}

/// Whether `owner` is still running: the pid exists and, where the kernel tells, it is the same
/// process (same start time), not a new one that got the pid.
pub fn is_alive(owner: &ProcessOwner) -> bool {
    if let Some(ticks) = owner.start.strip_prefix("proc:") {
        return proc_start_time(owner.pid).as_deref() == Some(ticks);
    }
    // SAFETY: kill with signal 0 only checks for existence and permission; no signal is sent.
    let rc = unsafe { libc::kill(owner.pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = this_process();
        assert!(is_alive(&me));
        if me.start.starts_with("proc:") {
            let other = ProcessOwner {
                pid: me.pid,
                start: "proc:1".into(),
            };
            assert!(!is_alive(&other), "same pid, another start time: a different process");
        }
    }
}
