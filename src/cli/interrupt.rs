//! Ctrl-C in a session command (issue 15, item 5): an interrupted `cloud deploy`, `cloud apply`
//! or `cloud approve` ends its session the way a cancel from chat would, instead of dying and
//! leaving the session to recovery.
//!
//! - **Applying.** The first SIGINT (or SIGTERM) asks the orchestrator to cancel the session's
//!   running engine steps — the engine's own stop path (Pulumi's graceful cancel: SIGINT to the
//!   engine process, in-flight steps finish) — audited as the person running the command. The
//!   command waits for the apply's end state, prints the usual summary (per stack: applied,
//!   cancelled, skipped), then one line naming the session, the state it was left in and what to
//!   do next, and exits [`EXIT_INTERRUPTED`] (130; [`EXIT_TERMINATED`], 143, for SIGTERM). A
//!   second signal while cancelling exits at once: the session's lease runs out and the next
//!   `cloud` process recovers it (`orchestrator::recovery`), so no lock is left behind.
//! - **Planning, or at the approval prompt.** A signal stops the preview and cancels the session
//!   (CANCELLED, its stacks freed), says so and exits 130.
//! - **Anywhere else.** A signal ends the process at once, as it would without a handler.
//!
//! The engine processes run in their own process group (`cloud_pulumi::pulumi`), so the
//! terminal's Ctrl-C reaches `cloud` only: the engine hears of it through the stop path above,
//! never as a raw signal behind the orchestrator's back.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

use crate::app::App;
use cloud_core::orchestrator::OrchestratorError;
use cloud_core::store::SessionRecord;
use cloud_domain::session::{SessionId, SessionState};

/// Exit code of a command interrupted by SIGINT (Ctrl-C): 128 + 2, the shells' convention.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code of a command interrupted by SIGTERM: 128 + 15.
pub const EXIT_TERMINATED: i32 = 143;

/// The signals that interrupt a session command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C at the terminal.
    Interrupt,
    /// SIGTERM: a supervisor or `kill` stopping the process.
    Terminate,
}

impl Signal {
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => EXIT_INTERRUPTED,
            Signal::Terminate => EXIT_TERMINATED,
        }
    }

    /// How the person knows it: `Ctrl-C`, `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The reason recorded with the cancel (audit log, session reason).
    pub fn reason(self) -> String {
        format!("interrupted ({})", self.name())
    }
}

/// A session command stopped by a signal: the CLI prints the message and exits with the
/// signal's code (`report_error`).
#[derive(Debug)]
pub struct Interrupted {
    pub signal: Signal,
    /// The line naming the session, the state it was left in and what to do next.
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// What the signal task shares with the commands waiting on it.
struct Listener {
    /// How many signals arrived so far and the last one. A watch channel: a command that starts
    /// listening only sees the signals that come after (`Interrupts::listen`).
    received: watch::Sender<(u32, Option<Signal>)>,
    /// How many [`Interrupts`] are alive. With none, nobody can end a session in order, so a
    /// signal ends the process at once, as the default disposition would have.
    listening: AtomicUsize,
    /// How many signals a command has acted on. A signal that arrives while a command listens
    /// but between two of its waits (after the plan, before the prompt) is acted on by the next
    /// wait rather than lost.
    handled: AtomicU32,
}

/// Installed on first use, for the rest of the process (tokio never restores the default
/// disposition, which is why the listener exits by itself when no command listens).
static LISTENER: OnceLock<Arc<Listener>> = OnceLock::new();

fn listener() -> Arc<Listener> {
    LISTENER
        .get_or_init(|| {
            use tokio::signal::unix::{signal, SignalKind};
            // Registered here, before any command waits on them: no signal falls in between.
            let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
            let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
            let shared = Arc::new(Listener {
                received: watch::channel((0, None)).0,
                listening: AtomicUsize::new(0),
                handled: AtomicU32::new(0),
            });
            let task = Arc::clone(&shared);
            tokio::spawn(async move {
                loop {
                    let signal = tokio::select! {
                        Some(()) = int.recv() => Signal::Interrupt,
                        Some(()) = term.recv() => Signal::Terminate,
                        else => return,
                    };
                    if task.listening.load(Ordering::SeqCst) == 0 {
                        std::process::exit(signal.exit_code());
                    }
                    task.received.send_modify(|(n, last)| {
                        *n += 1;
                        *last = Some(signal);
                    });
                }
            });
            shared
        })
        .clone()
}

/// The signals that arrive while a command holds this value. A command holds one over its whole
/// session flow (plan, prompt, apply), so that a signal between two steps is not the default
/// disposition's sudden exit but is acted on by the next step.
pub(super) struct Interrupts {
    listener: Arc<Listener>,
    received: watch::Receiver<(u32, Option<Signal>)>,
    seen: u32,
}

impl Interrupts {
    pub(super) fn listen() -> Interrupts {
        let listener = listener();
        listener.listening.fetch_add(1, Ordering::SeqCst);
        let received = listener.received.subscribe();
        let seen = listener.handled.load(Ordering::SeqCst);
        Interrupts {
            listener,
            received,
            seen,
        }
    }

    /// The next signal not seen yet (two signals in a row are two answers, even when they
    /// arrived before this was awaited).
    pub(super) async fn next(&mut self) -> Signal {
        loop {
            let (count, last) = *self.received.borrow_and_update();
            if count > self.seen {
                self.seen += 1;
                self.listener.handled.fetch_max(self.seen, Ordering::SeqCst);
                return last.unwrap_or(Signal::Interrupt);
            }
            if self.received.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.listener.listening.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `plan` (a session being previewed); a signal stops the preview (a preview takes no
/// engine lock and changes nothing) and cancels the session.
pub(super) async fn planning(
    app: &App,
    id: SessionId,
    plan: impl Future<Output = anyhow::Result<SessionRecord>>,
) -> anyhow::Result<SessionRecord> {
    let mut interrupts = Interrupts::listen();
    let mut plan = Box::pin(plan);
    let signal = tokio::select! {
        planned = &mut plan => return planned,
        signal = interrupts.next() => signal,
    };
    drop(plan);
    Err(cancel_session(app, id, signal, "while it was planning").await)
}

/// Asks "Approve and apply this plan? [y/N]" at the terminal; a signal instead of an answer
/// cancels the session.
pub(super) async fn ask_approval(app: &App, id: SessionId) -> anyhow::Result<bool> {
    use std::io::Write;
    let mut interrupts = Interrupts::listen();
    eprint!("Approve and apply this plan? [y/N] ");
    std::io::stderr().flush()?;
    // The read blocks its thread; on a signal it is left waiting and ends with the process.
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map(|_| answer)
    });
    let signal = tokio::select! {
        answer = read => {
            let answer = answer??;
            return Ok(matches!(answer.trim(), "y" | "Y" | "yes"));
        }
        signal = interrupts.next() => signal,
    };
    crate::errln!("");
    Err(cancel_session(app, id, signal, "at the approval prompt").await)
}

/// Cancels a session that is not applying (the orchestrator's cancel, as the person running the
/// command) and returns the error that ends the command.
async fn cancel_session(app: &App, id: SessionId, signal: Signal, when: &str) -> anyhow::Error {
    match app.orchestrator.cancel(id, &app.actor, &signal.reason()).await {
        Ok(s) => Interrupted {
            signal,
            message: format!(
                "interrupted ({}) {when}: session {} is {}; nothing was applied and its stacks are free. Run the command again to start over.",
                signal.name(),
                s.id.short(),
                s.state
            ),
        }
        .into(),
        Err(e) => super::common::user(e).context(format!(
            "interrupted ({}) {when}, but session {} could not be cancelled; `cloud cancel {}` ends it",
            signal.name(),
            id.short(),
            id.short()
        )),
    }
}

/// Runs the apply of session `id`; the first signal cancels its running engine steps and waits
/// for the end state, a second one exits at once. Returns the apply's result and the signal
/// that interrupted it, if one did.
pub(super) async fn applying(app: &App, id: SessionId) -> (Result<SessionRecord, OrchestratorError>, Option<Signal>) {
    let mut interrupts = Interrupts::listen();
    let apply = app.orchestrator.apply(id, &app.actor);
    tokio::pin!(apply);
    let first = tokio::select! {
        done = &mut apply => return (done, None),
        signal = interrupts.next() => signal,
    };
    crate::errln!(
        "{}: cancelling session {}: steps in flight finish, then it stops ({} again to quit at once).",
        signal_word(first),
        id.short(),
        first.name()
    );
    let principal = app.principal.to_string();
    let reason = first.reason();
    match app.orchestrator.cancel_running_as(id, &principal, &reason).await {
        Ok(true) => {}
        // Not running an engine step in this process yet (still starting): the orchestrator's
        // cancel ends an APPROVED session, or asks the apply through the session's log.
        Ok(false) => {
            if let Err(e) = app.orchestrator.cancel(id, &app.actor, &reason).await {
                tracing::warn!(session = %id, error = %e, "cannot cancel the interrupted apply");
            }
        }
        Err(e) => tracing::warn!(session = %id, error = %e, "cannot cancel the interrupted apply"),
    }
    let second = tokio::select! {
        done = &mut apply => {
            // An apply refused because the cancel came first still has an end state to show.
            let done = match done {
                Err(e) => match app.store.session(id).await {
                    Ok(s) if s.state.is_terminal() => Ok(s),
                    _ => Err(e),
                },
                ok => ok,
            };
            return (done, Some(first));
        }
        signal = interrupts.next() => signal,
    };
    crate::errln!(
        "{}: quitting now; session {} is left to recovery: the next `cloud` command ends it (`cloud status {}`).",
        signal_word(second),
        id.short(),
        id.short()
    );
    std::process::exit(second.exit_code());
}

fn signal_word(signal: Signal) -> &'static str {
    match signal {
        Signal::Interrupt => "interrupted",
        Signal::Terminate => "terminated",
    }
}

/// The line after the summary of an interrupted apply: the session, the state it was left in
/// and what to do next.
pub(super) fn ended(signal: Signal, s: &SessionRecord) -> Interrupted {
    let short = s.id.short();
    let next = match s.state {
        SessionState::Cancelled => format!(
            "stacks shown applied stay applied; deploy again to apply the rest (`cloud deploy {} {}`)",
            s.project, s.env
        ),
        SessionState::Applied => "every stack was applied before the cancel took effect".to_string(),
        _ => format!("see `cloud status {short}` and `cloud logs {short}`, then deploy again"),
    };
    Interrupted {
        signal,
        message: format!(
            "{} ({}): session {short} is {}; {next}.",
            signal_word(signal),
            signal.name(),
            s.state
        ),
    }
}
