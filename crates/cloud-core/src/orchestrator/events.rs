//! What the orchestrator tells its subscribers (CLI renderer, chat adapters) as sessions move.

use serde::Serialize;

use crate::engine::Progress;
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
pub(crate) fn log_line(progress: &Progress) -> Option<String> {
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
