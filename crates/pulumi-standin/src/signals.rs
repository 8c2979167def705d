//! SIGINT handling, as the real CLI does it: the first ^C asks the engine to stop gracefully
//! (in-flight steps finish, no new ones start, the lock is released, exit 1); the second stops
//! at once (summary `canceled`, exit 8, the lock file stays behind).
//!
//! The signal handler only bumps an atomic counter and writes one byte to a self-pipe (both
//! async-signal-safe). A watcher thread blocks on that pipe — no polling, so an idle engine
//! costs no wake-ups — and does the work that needs locks and I/O: the `stdoutEvent` on the first
//! signal, waking whoever waits in [`wait_for_cancel`], the final events and `exit(8)` on the
//! second.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::exit;
use crate::events::{EventSink, Summary};

static SIGINTS: AtomicUsize = AtomicUsize::new(0);

/// Write end of the self-pipe (-1 until [`watch`] made it).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// Set (and notified) by the watcher on the first SIGINT: lets sleeps end early.
static CANCELLED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

extern "C" fn on_sigint(_signal: libc::c_int) {
    SIGINTS.fetch_add(1, Ordering::SeqCst);
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the wake-up byte, and
        // the watcher reads the counter, not the bytes.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// The text the engine prints on the first ^C.
pub const CANCEL_MESSAGE: &str = "^C received; cancelling. If you would like to terminate immediately, press ^C again.";

/// Number of SIGINTs received so far.
pub fn received() -> usize {
    SIGINTS.load(Ordering::SeqCst)
}

/// Whether a graceful cancel was requested.
pub fn cancel_requested() -> bool {
    received() >= 1
}

/// Sleep for `timeout` (forever when `None`) or until a graceful cancel is requested, whichever
/// comes first. Returns whether a cancel was requested.
pub fn wait_for_cancel(timeout: Option<Duration>) -> bool {
    let (lock, cvar) = &CANCELLED;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut cancelled = lock.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *cancelled || cancel_requested() {
            return true;
        }
        match deadline {
            None => cancelled = cvar.wait(cancelled).unwrap_or_else(|e| e.into_inner()),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                cancelled = cvar.wait_timeout(cancelled, left).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
    }
}

/// Everything the watcher needs to end the stream on a second ^C.
pub struct Watch {
    pub sink: Arc<Mutex<EventSink>>,
    /// Produces the summary to write on a hard stop (totals so far, `canceled`).
    pub summary: Arc<dyn Fn() -> Summary + Send + Sync>,
    pub is_preview: bool,
}

/// Install the handler and start the watcher. Called when the engine starts.
pub fn watch(w: Watch) {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: pipe(2) fills the two descriptors we pass; on failure they stay -1 and the
    // watcher falls back to a slow poll of the counter.
    let piped = unsafe { libc::pipe(fds.as_mut_ptr()) } == 0;
    if piped {
        PIPE_WRITE.store(fds[1], Ordering::SeqCst);
    }
    // SAFETY: the handler only touches an atomic and write(2), which are async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let read_fd = fds[0];
    std::thread::spawn(move || {
        let mut announced = false;
        loop {
            if piped {
                let mut byte = 0u8;
                // SAFETY: a blocking read of one byte from the pipe we own.
                let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
                if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    std::thread::sleep(Duration::from_millis(50));
                }
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
            let n = received();
            if n >= 1 && !announced {
                announced = true;
                let mut message = format!("{CANCEL_MESSAGE}\n");
                if !w.is_preview {
                    message.push_str(
                        "Note that terminating immediately may lead to orphaned resources and other \
                         inconsistencies.\n",
                    );
                }
                w.sink.lock().unwrap_or_else(|e| e.into_inner()).stdout(&message);
                println!("{CANCEL_MESSAGE}");
                let (lock, cvar) = &CANCELLED;
                *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
                cvar.notify_all();
            }
            if n >= 2 {
                let mut sink = w.sink.lock().unwrap_or_else(|e| e.into_inner());
                if !sink.finished() {
                    sink.summary(&(w.summary)());
                    sink.cancel();
                }
                eprintln!("error: update canceled");
                // The lock file is deliberately left behind, as the real local backend does.
                std::process::exit(exit::CANCELLED);
            }
        }
    });
}
