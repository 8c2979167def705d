//! Stack locks and the FIFO lock queue. A fully qualified stack belongs to at most one
//! non-terminal session: a row in `stack_locks` says which. A session that finds its stacks held
//! either is refused (with the holders, so people know whom to ask) or waits in `lock_queue`.
//! The types here are what callers see; `queries/locks.rs` takes and hands out the locks.

use serde::Serialize;

use cloud_domain::session::{Principal, SessionId, SessionState, StackName};

/// The key of one fully qualified stack in `stack_locks`: `<project>/<deployment>-<stack>-<env>`
/// (deployment ids are unique, the project keeps keys readable).
pub fn lock_key(project: &str, deployment: &str, stack: &StackName, env: &str) -> String {
    format!("{project}/{deployment}-{stack}-{env}")
}

/// Who holds (or waits ahead for) a stack another session wants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockHolder {
    /// The lock key (`<project>/<deployment>-<stack>-<env>`).
    pub stack: String,
    pub session: SessionId,
    pub requester: Principal,
    pub state: SessionState,
    /// `true` when the other session does not hold the stack yet but queued for it earlier.
    pub queued: bool,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.queued {
            write!(
                f,
                "{} is wanted by session {} ({}, {}, waiting in the queue ahead of you)",
                self.stack,
                self.session.short(),
                self.requester,
                self.state
            )
        } else {
            write!(
                f,
                "{} is held by session {} ({}, {}): {}",
                self.stack,
                self.session.short(),
                self.requester,
                self.state,
                released_when(self.session, self.state)
            )
        }
    }
}

/// A held stack lock, for `cloud locks`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldLock {
    /// The lock key (`<project>/<deployment>-<stack>-<env>`).
    pub stack: String,
    pub session: SessionId,
    pub state: SessionState,
    pub requester: String,
    pub acquired_at: String,
}

/// What will release the locks of a session in `state`, for messages about a held stack.
pub fn released_when(session: SessionId, state: SessionState) -> String {
    let short = session.short();
    match state {
        SessionState::Draft => format!(
            "released when it is planned and applied, cancelled (`cloud cancel {short}`), or when the process that opened it stops"
        ),
        SessionState::Planning => format!(
            "released when its plan ends and the session finishes, or at once if it is cancelled (`cloud cancel {short}`)"
        ),
        SessionState::PlanReady | SessionState::Approved => format!(
            "released when it is applied, cancelled (`cloud cancel {short}`) or its plan expires"
        ),
        SessionState::PlanFailed => format!(
            "its plan failed: released when it is cancelled (`cloud cancel {short}`) or re-planned and finished"
        ),
        SessionState::Applying => "released when its apply ends".to_string(),
        SessionState::Applied | SessionState::Failed | SessionState::Cancelled | SessionState::Expired => format!(
            "the session is finished, so the lock is left over: the next sweep releases it, or an admin runs `cloud locks release {short} --reason …`"
        ),
    }
}

/// What an attempt to take a session's locks came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LockOutcome {
    /// The session holds every one of its stacks.
    Granted,
    /// Refused: other sessions hold (or queued earlier for) some of the stacks. Nothing changed.
    Busy { holders: Vec<LockHolder> },
    /// The session waits in the FIFO queue; `position` is 1 for the next in line among the
    /// sessions wanting any of its stacks.
    Queued { position: u32, holders: Vec<LockHolder> },
}

/// What an attempt to take a session's locks came to, and whether it ended the session's wait
/// in the lock queue.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenLocks {
    pub outcome: LockOutcome,
    /// The session was waiting in the lock queue and this grant ended its wait.
    pub left_queue: bool,
}

/// One queued session, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueEntry {
    pub session: SessionId,
    pub position: u32,
    pub enqueued_at: String,
}

/// One configuration value as a session recorded it (`value` is `None` for secrets: they are
/// never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SavedConfig {
    pub key: String,
    pub value: Option<String>,
    pub secret: bool,
}
