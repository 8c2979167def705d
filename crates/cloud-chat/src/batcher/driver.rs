//! Runs a [`Batcher`] on tokio time: the production wrapper around the pure state machine.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{BatchInput, Batcher, BatcherStats, RenderOp, SessionOutcome, SessionSummary, SinkLimits};

/// Spawns a batcher task for one session thread with default options (no known secrets, default
/// log filename). See [`spawn_batcher_with`].
pub fn spawn_batcher(
    rx: mpsc::UnboundedReceiver<BatchInput>,
    limits: SinkLimits,
    ops_tx: mpsc::Sender<RenderOp>,
) -> JoinHandle<BatcherStats> {
    spawn_batcher_with(rx, Batcher::new(limits), ops_tx)
}

/// Spawns a task that feeds `rx` into `batcher` and sends the resulting ops to `ops_tx`, polling
/// at the batcher's deadlines with `tokio::time` (so `tokio::time::pause` makes it deterministic).
///
/// - `rx` is unbounded because the engine side must never wait for chat (the batcher decides
///   what reaches chat); closing it without a [`BatchInput::SessionFinished`] still flushes
///   everything and posts a summary saying the output ended early.
/// - `ops_tx` is bounded: a slow adapter slows this task, not the engine. Op times are those of
///   emission; the adapter must still honour the platform's own 429s.
///
/// The task ends after the summary is posted (or when `ops_tx` is closed) and returns the stats.
pub fn spawn_batcher_with(
    mut rx: mpsc::UnboundedReceiver<BatchInput>,
    mut batcher: Batcher,
    ops_tx: mpsc::Sender<RenderOp>,
) -> JoinHandle<BatcherStats> {
    tokio::spawn(async move {
        let mut input_open = true;
        let mut finishing = false;
        loop {
            for op in batcher.poll(Instant::now().into_std()) {
                if ops_tx.send(op).await.is_err() {
                    tracing::warn!("output batcher: the chat adapter went away; stopping");
                    return batcher.stats().clone();
                }
            }
            if batcher.is_done() {
                break;
            }
            let deadline = batcher.next_deadline().map(Instant::from_std);
            tokio::select! {
                input = rx.recv(), if input_open => match input {
                    Some(input) => {
                        finishing |= matches!(input, BatchInput::SessionFinished(_));
                        batcher.push(input, Instant::now().into_std());
                    }
                    None => {
                        input_open = false;
                        if !finishing {
                            finishing = true;
                            let summary = SessionSummary {
                                outcome: SessionOutcome::Cancelled,
                                headline: "Output ended before the session reported its outcome."
                                    .to_string(),
                                details: Vec::new(),
                            };
                            batcher.push(BatchInput::SessionFinished(summary), Instant::now().into_std());
                        }
                    }
                },
                _ = sleep_until_opt(deadline), if deadline.is_some() => {}
                else => break,
            }
        }
        batcher.stats().clone()
    })
}

/// What a tracked batcher ([`spawn_tracked_batcher`]) hands its adapter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadOp {
    /// Carry out this op.
    Render(RenderOp),
    /// Once the ops before this one are carried out, chat shows everything of the inputs up to
    /// this position ([`Batcher::shown_through`]): the adapter records it, so a process that
    /// takes the thread over resumes right after it.
    Shows(i64),
}

/// [`spawn_batcher_with`] for inputs tagged with their position in their source (a session
/// event's cursor, non-decreasing): after the ops of each poll it says, with
/// [`ThreadOp::Shows`], how far chat shows the inputs once those ops are done.
pub fn spawn_tracked_batcher(
    mut rx: mpsc::UnboundedReceiver<(i64, BatchInput)>,
    mut batcher: Batcher,
    ops_tx: mpsc::Sender<ThreadOp>,
) -> JoinHandle<BatcherStats> {
    tokio::spawn(async move {
        let mut input_open = true;
        let mut finishing = false;
        let mut shown: Option<i64> = None;
        loop {
            let ops = batcher.poll(Instant::now().into_std());
            let now_shown = batcher.shown_through();
            let moved = shown.is_none_or(|s| now_shown > s);
            for op in ops
                .into_iter()
                .map(ThreadOp::Render)
                .chain(moved.then_some(ThreadOp::Shows(now_shown)))
            {
                if ops_tx.send(op).await.is_err() {
                    tracing::warn!("output batcher: the chat adapter went away; stopping");
                    return batcher.stats().clone();
                }
            }
            shown = Some(now_shown);
            if batcher.is_done() {
                break;
            }
            let deadline = batcher.next_deadline().map(Instant::from_std);
            tokio::select! {
                input = rx.recv(), if input_open => match input {
                    Some((seq, input)) => {
                        finishing |= matches!(input, BatchInput::SessionFinished(_));
                        batcher.push_at(seq, input, Instant::now().into_std());
                    }
                    None => {
                        input_open = false;
                        if !finishing {
                            finishing = true;
                            batcher.push(ended_early(), Instant::now().into_std());
                        }
                    }
                },
                _ = sleep_until_opt(deadline), if deadline.is_some() => {}
                else => break,
            }
        }
        batcher.stats().clone()
    })
}

/// The summary of a session whose output ended before it reported its outcome.
fn ended_early() -> BatchInput {
    BatchInput::SessionFinished(SessionSummary {
        outcome: SessionOutcome::Cancelled,
        headline: "Output ended before the session reported its outcome.".to_string(),
        details: Vec::new(),
    })
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}
