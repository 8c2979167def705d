//! SIGINT handling, as the real CLI does it: the first ^C asks the engine to stop gracefully
//! (in-flight steps finish, no new ones start, the lock is released, exit 1); the second stops
//! at once (summary `canceled`, exit 8, the lock file stays behind).
//!
//! The signal handler only bumps an atomic counter (nothing else is async-signal-safe). A watcher
//! thread polls it and does the work that needs locks and I/O: the `stdoutEvent` on the first
//! signal, the final events and `exit(8)` on the second.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::exit;
use crate::events::{EventSink, Summary};

static SIGINTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigint(_signal: libc::c_int) {
    SIGINTS.fetch_add(1, Ordering::SeqCst);
}

/// How often the watcher looks at the counter: short enough that tests never notice.
const POLL: Duration = Duration::from_millis(5);

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

/// Everything the watcher needs to end the stream on a second ^C.
pub struct Watch {
    pub sink: Arc<Mutex<EventSink>>,
    /// Produces the summary to write on a hard stop (totals so far, `canceled`).
    pub summary: Arc<dyn Fn() -> Summary + Send + Sync>,
    pub is_preview: bool,
}

/// Install the handler and start the watcher. Called when the engine starts.
pub fn watch(w: Watch) {
    // SAFETY: the handler only touches an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    std::thread::spawn(move || {
        let mut announced = false;
        loop {
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
            std::thread::sleep(POLL);
        }
    });
}
