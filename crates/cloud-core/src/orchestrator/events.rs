//! What the orchestrator tells its subscribers (CLI renderer, chat adapters) as sessions move, and
//! the progress sink that turns engine output into events and stored log lines.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tracing::warn;

use super::Orchestrator;
use crate::engine::{Progress, ProgressSink};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName, StackState};

/// Something happened to a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvent {
    pub session: SessionId,
    pub kind: SessionEventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Engine progress of one stack, as it happens.
    Progress {
        stack: StackName,
        #[serde(skip)]
        progress: Progress,
    },
}

/// The log line a progress item leaves in `cloud logs`.
fn log_line(progress: &Progress) -> Option<String> {
    match progress {
        Progress::StepStarted { urn, resource_type, op } => Some(format!(
            "{op} {resource_type} {} ...",
            crate::engine::ResourceStep::name_from_urn(urn)
        )),
        Progress::StepDone { urn, resource_type, op } => Some(format!(
            "{op} {resource_type} {} done",
            crate::engine::ResourceStep::name_from_urn(urn)
        )),
        Progress::StepFailed { urn, resource_type, op } => Some(format!(
            "{op} {resource_type} {} FAILED",
            crate::engine::ResourceStep::name_from_urn(urn)
        )),
        Progress::Line(line) => Some(line.clone()),
    }
}

impl Orchestrator {
    /// A sink for engine progress: forwards each item as a [`SessionEvent`] at once and keeps
    /// the lines in the store (batched) for `cloud logs`. The returned task ends when every
    /// sender is dropped and the last lines are written.
    pub(super) fn progress_sink(&self, id: SessionId) -> (StackSinkFactory, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(StackName, Progress)>();
        let events = self.events.clone();
        let store = self.store.clone();
        let task = tokio::spawn(async move {
            let mut pending: Vec<(String, String)> = Vec::new();
            let mut flush_at = tokio::time::Instant::now() + Duration::from_millis(250);
            loop {
                let next = tokio::select! {
                    item = rx.recv() => item,
                    _ = tokio::time::sleep_until(flush_at) => {
                        if let Err(e) = store.append_logs(id, &pending).await {
                            warn!(session = %id, error = %e, "cannot store log lines");
                        }
                        pending.clear();
                        flush_at = tokio::time::Instant::now() + Duration::from_millis(250);
                        continue;
                    }
                };
                let Some((stack, progress)) = next else { break };
                if let Some(line) = log_line(&progress) {
                    pending.push((stack.to_string(), line));
                }
                let _ = events.send(SessionEvent {
                    session: id,
                    kind: SessionEventKind::Progress { stack, progress },
                });
            }
            if let Err(e) = store.append_logs(id, &pending).await {
                warn!(session = %id, error = %e, "cannot store log lines");
            }
        });
        (StackSinkFactory { tx }, task)
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
