//! How long a test waits for an event before it gives up.
//!
//! Tests wait for events (a message in a fake chat, a session event, a line of output, a gate
//! the engine reached), never for time to pass: a wait returns the moment its event arrives, so
//! a loaded machine makes a test slower, never red. [`SAFETY_NET`] only bounds a wait for an
//! event that never comes (a bug), so that the test fails with what happened so far instead of
//! hanging; it is deliberately far longer than any wait takes on a busy 2-core machine (the
//! longest, a 400-resource apply streamed into Slack at Slack's own rate limits, takes about a
//! minute there), and no test relies on it firing.

use std::time::Duration;

/// The longest any single wait of a test may take before the test fails with the conversation
/// or state so far (see the module documentation).
pub const SAFETY_NET: Duration = Duration::from_secs(300);

/// CPU time the calling thread has used so far.
///
/// For "answers within a bound" checks (a parser that must not hang or go quadratic): they bound
/// the work done, which other processes cannot inflate, instead of the wall-clock time, which a
/// busy machine stretches at will. A loop or a quadratic blow-up burns CPU and still fails them.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported on every
    // Unix this project runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
