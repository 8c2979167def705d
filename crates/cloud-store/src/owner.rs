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

/// This machine's host name (for lease owners): `gethostname(2)`, empty when it fails.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the kernel NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// This process as a lease owner: `<host>/<pid>/<start>/<run id>`. The run id alone makes it
/// unique (two processes never share one, even on hosts with the same name and pid); host, pid
/// and start let a process on the same host tell at once that the owner is gone
/// ([`lease_owner_is_gone`]) instead of waiting for the lease to expire.
pub fn lease_owner() -> String {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER
        .get_or_init(|| {
            let me = this_process();
            format!(
                "{}/{}/{}/{}",
                host_name().replace('/', "_"),
                me.pid,
                me.start,
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            )
        })
        .clone()
}

/// Whether lease owner `owner` is provably gone: it ran on this host and its process no longer
/// runs (same pid and start time, see [`is_alive`]). Owners on other hosts, and owners that do
/// not parse, are never declared gone here: their leases end by expiring.
pub fn lease_owner_is_gone(owner: &str) -> bool {
    let mut parts = owner.split('/');
    let (Some(host), Some(pid), Some(start), Some(_run), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    if host != host_name().replace('/', "_") || owner == lease_owner() {
        return false;
    }
    !is_alive(&ProcessOwner {
        pid,
        start: start.to_string(),
    })
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

    #[test]
    fn a_lease_owner_is_gone_only_when_it_provably_stopped_on_this_host() {
        let me = lease_owner();
        assert!(!lease_owner_is_gone(&me), "this process is not gone");
        let parts: Vec<&str> = me.split('/').collect();
        let reused = format!("{}/{}/proc:1/abc", parts[0], parts[1]);
        if parts[2].starts_with("proc:") {
            assert!(lease_owner_is_gone(&reused), "same pid, another start time");
        }
        assert!(!lease_owner_is_gone("another-host/1/proc:1/abc"), "other hosts expire");
        assert!(!lease_owner_is_gone("garbage"));
    }
}
