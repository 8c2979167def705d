//! What the orchestrator tells its subscribers as sessions move, and the progress sink that
//! turns engine output into events.
//!
//! Two channels carry the same events: the **session event log** (`session_events`, durable,
//! read by every process through [`crate::event_feed::EventFeed`]) and an in-process broadcast
//! (a latency shortcut for the CLI's own renderer and tests). Chat renders from the log, so a
//! lobby follows a session whichever process drives it. The events that belong to a store
//! transaction (created, state and stack moves, approvals) are written by that transaction;
//! the others ([`SessionEventKind::is_logged_by_store`] is false) are appended by
//! [`Orchestrator::publish`]; engine output is appended in batches by the progress sink.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::warn;

use super::Orchestrator;
use crate::engine::{Progress, ProgressSink};
use crate::store::{EventKind, EventRow, NewEvent, StoreError};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName, StackState};

/// Something happened to a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvent {
    pub session: SessionId,
    pub kind: SessionEventKind,
}

/// The payload of one event; stored as JSON (`{"type": "state_changed", …}`) in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEventKind {
    /// A session was opened (DRAFT).
    Created,
    /// The session moved.
    StateChanged { from: SessionState, to: SessionState },
    /// One stack's sub-state moved.
    StackStateChanged {
        stack: StackName,
        state: StackState,
        error: Option<String>,
    },
    /// An approval was recorded (the session may still need more).
    Approved { by: Principal },
    /// The session waits in the lock queue for stacks other sessions hold.
    Queued { position: u32 },
    /// The session now holds the locks of all its stacks (its turn in the queue came).
    LocksGranted,
    /// The apply stopped before a provisional stack whose re-preview drifted; `follow_up` is the
    /// new session for the remaining stacks (PLAN_READY, linked to this one).
    FollowUpOpened { follow_up: SessionId },
    /// The process driving this session died; start-up recovery reconciled it. `stacks` is the
    /// truth found per stack (`(stack, what the engine state showed)`).
    Recovered {
        from: SessionState,
        to: SessionState,
        stacks: Vec<(StackName, String)>,
    },
    /// Engine progress of one stack, as it happens: in-process only (the broadcast). The log
    /// keeps the same items batched as [`SessionEventKind::Output`].
    Progress { stack: StackName, progress: Progress },
    /// A batch of one stack's engine progress, in order, as the log keeps it.
    Output { stack: StackName, items: Vec<Progress> },
    /// The process running the session was asked to stop (SIGTERM, Ctrl-C) and stopped it.
    Shutdown { reason: String },
    /// `by` asked to cancel the running apply; the process running it stops it gracefully (it
    /// watches its session's log) and records CANCELLED.
    CancelRequested { by: Principal, reason: String },
}

impl SessionEventKind {
    /// The log's kind column for this event; `None` for what never reaches the log.
    pub fn stored_kind(&self) -> Option<EventKind> {
        Some(match self {
            SessionEventKind::Created => EventKind::Created,
            SessionEventKind::StateChanged { .. } => EventKind::StateChanged,
            SessionEventKind::StackStateChanged { .. } => EventKind::StackStateChanged,
            SessionEventKind::Approved { .. } => EventKind::Approved,
            SessionEventKind::Queued { .. } => EventKind::Queued,
            SessionEventKind::LocksGranted => EventKind::LocksGranted,
            SessionEventKind::FollowUpOpened { .. } => EventKind::FollowUpOpened,
            SessionEventKind::Recovered { .. } => EventKind::Recovered,
            SessionEventKind::Output { .. } => EventKind::Output,
            SessionEventKind::Shutdown { .. } => EventKind::Shutdown,
            SessionEventKind::CancelRequested { .. } => EventKind::CancelRequested,
            SessionEventKind::Progress { .. } => return None,
        })
    }

    /// Whether the store writes this event itself, in the transaction of the change.
    pub fn is_logged_by_store(&self) -> bool {
        match self {
            SessionEventKind::Created
            | SessionEventKind::StateChanged { .. }
            | SessionEventKind::StackStateChanged { .. }
            | SessionEventKind::Approved { .. } => true,
            SessionEventKind::Queued { .. }
            | SessionEventKind::LocksGranted
            | SessionEventKind::FollowUpOpened { .. }
            | SessionEventKind::Recovered { .. }
            | SessionEventKind::Progress { .. }
            | SessionEventKind::Output { .. }
            | SessionEventKind::Shutdown { .. }
            | SessionEventKind::CancelRequested { .. } => false,
        }
    }

    /// The row to append for this event (`None` for in-process-only events).
    pub fn to_new_event(&self) -> Option<NewEvent> {
        let kind = self.stored_kind()?;
        let value = serde_json::to_value(self).expect("session events serialise");
        Some(NewEvent::new(kind, &value))
    }
}

/// One event read back from the log, with its cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Increasing across every session, in commit order.
    pub cursor: i64,
    pub session: SessionId,
    pub kind: SessionEventKind,
}

impl TryFrom<EventRow> for LoggedEvent {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        let kind: SessionEventKind = serde_json::from_str(&row.payload).map_err(|e| {
            StoreError::Corrupt(format!(
                "session_events row {} (session {}): column payload: {e}",
                row.id, row.session_id
            ))
        })?;
        Ok(LoggedEvent {
            cursor: row.id,
            session: row.session_id,
            kind,
        })
    }
}

/// How many output items of one stack the sink buffers before it writes them.
pub const OUTPUT_BATCH_ITEMS: usize = 64;
/// How long engine output may wait in the sink before it is written (and rendered).
pub const OUTPUT_FLUSH_EVERY: Duration = Duration::from_millis(250);

impl Orchestrator {
    /// A sink for engine progress: forwards each item as a [`SessionEvent`] at once (in
    /// process) and appends it to the session event log in per-stack batches (every
    /// [`OUTPUT_BATCH_ITEMS`] items or [`OUTPUT_FLUSH_EVERY`]), so the log costs a row per batch,
    /// not per line. The returned task ends when every sender is dropped and the last batch is
    /// written.
    pub(super) fn progress_sink(&self, id: SessionId) -> (StackSinkFactory, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(StackName, Progress)>();
        let events = self.events.clone();
        let store = self.store.clone();
        let task = tokio::spawn(async move {
            let mut pending: BTreeMap<StackName, Vec<Progress>> = BTreeMap::new();
            let mut flush_at = tokio::time::Instant::now() + OUTPUT_FLUSH_EVERY;
            loop {
                let next = tokio::select! {
                    item = rx.recv() => item,
                    _ = tokio::time::sleep_until(flush_at) => {
                        flush(&store, id, &mut pending).await;
                        flush_at = tokio::time::Instant::now() + OUTPUT_FLUSH_EVERY;
                        continue;
                    }
                };
                let Some((stack, progress)) = next else { break };
                let batch = pending.entry(stack.clone()).or_default();
                batch.push(progress.clone());
                if batch.len() >= OUTPUT_BATCH_ITEMS {
                    flush(&store, id, &mut pending).await;
                }
                let _ = events.send(SessionEvent {
                    session: id,
                    kind: SessionEventKind::Progress { stack, progress },
                });
            }
            flush(&store, id, &mut pending).await;
        });
        (StackSinkFactory { tx }, task)
    }
}

/// Writes the buffered output of every stack, one `output` event per stack.
async fn flush(store: &crate::store::Store, id: SessionId, pending: &mut BTreeMap<StackName, Vec<Progress>>) {
    let batch: Vec<NewEvent> = std::mem::take(pending)
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .filter_map(|(stack, items)| SessionEventKind::Output { stack, items }.to_new_event())
        .collect();
    if let Err(e) = store.append_events(id, &batch).await {
        warn!(session = %id, error = %e, "cannot store engine output in the session event log");
    }
}

/// Hands each stack its own [`ProgressSink`] that tags items with the stack name.
#[derive(Clone)]
pub(super) struct StackSinkFactory {
    tx: mpsc::UnboundedSender<(StackName, Progress)>,
}

impl StackSinkFactory {
    pub(super) fn for_stack(&self, stack: &StackName) -> ProgressSink {
        let (tx, mut rx) = mpsc::unbounded_channel::<Progress>();
        let out = self.tx.clone();
        let stack = stack.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                if out.send((stack.clone(), p)).is_err() {
                    break;
                }
            }
        });
        tx
    }
}
