//! The answer for whoever loses a race on a session. Two approvers click Approve at the same
//! moment, an approval meets a cancel, two `cloud approve` processes run together: the store's
//! compare-and-set lets exactly one win, and the others come here. They get one sentence, the
//! same on every front end (the chat actions and the CLI both show this text verbatim), saying
//! what the session became and because of whom — never a raw transition error, and never a
//! different wording depending on whether the loser arrived a millisecond or a minute late.

use cloud_domain::error::UserError;
use cloud_domain::error_code::ErrorCode;
use cloud_domain::session::{Principal, SessionId, SessionState};

use super::{OrchResult, Orchestrator, OrchestratorError};
use crate::store::StoreError;

/// What the loser tried to do, for the end of the sentence ("nothing left to approve").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Approve,
    Cancel,
}

impl Attempt {
    fn verb(self) -> &'static str {
        match self {
            Attempt::Approve => "approve",
            Attempt::Cancel => "cancel",
        }
    }
}

/// What a race loser is told: the session as it is now and who approved it. Rendered by
/// [`LostRace::message`] — the CLI and the API name people as `platform:id` (its `Display`), chat
/// adapters as mentions on their own platform; the words are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostRace {
    pub session: SessionId,
    pub state: SessionState,
    /// Why it ended where it did (the cancel's "cancelled by … : …", an expiry).
    pub reason: Option<String>,
    /// The approvals recorded for the current plan, oldest first (they name an approval race's
    /// winner).
    pub approvers: Vec<Principal>,
    pub attempt: Attempt,
}

impl LostRace {
    /// The one sentence, with people written by `name`.
    pub fn message(&self, name: impl Fn(&Principal) -> String) -> String {
        let id = self.session.short();
        let state = self.state;
        let verb = self.attempt.verb();
        match state {
            SessionState::Cancelled | SessionState::Expired => match &self.reason {
                Some(reason) => format!("session {id} is {state} ({reason}); nothing left to {verb}"),
                None => format!("session {id} is {state}; nothing left to {verb}"),
            },
            SessionState::Approved | SessionState::Applying | SessionState::Applied | SessionState::Failed
                if !self.approvers.is_empty() =>
            {
                let who = self.approvers.iter().map(&name).collect::<Vec<_>>().join(", ");
                format!("session {id} was already approved by {who} and is {state}; nothing left to {verb}")
            }
            SessionState::Draft
            | SessionState::Planning
            | SessionState::PlanReady
            | SessionState::PlanFailed
            | SessionState::Approved
            | SessionState::Applying
            | SessionState::Applied
            | SessionState::Failed => format!("session {id} is {state}; nothing left to {verb}"),
        }
    }

    /// The refusal as a person sees it outside chat: invalid input (exit 2), `session-changed`.
    pub fn to_user(&self) -> UserError {
        UserError::invalid(self.to_string()).with_code(ErrorCode::SessionChanged)
    }
}

impl std::fmt::Display for LostRace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Principal::to_string))
    }
}

/// Whether a store error means "someone else moved the session first".
pub(super) fn is_lost_race(e: &OrchestratorError) -> bool {
    matches!(
        e,
        OrchestratorError::Store(StoreError::StateChanged { .. } | StoreError::Transition(_))
    )
}

impl Orchestrator {
    /// The refusal for a request on `id` that another one beat: the session as it is now, and
    /// who approved it.
    pub async fn lost_race(&self, id: SessionId, attempt: Attempt) -> OrchestratorError {
        match self.lost_race_of(id, attempt).await {
            Ok(race) => OrchestratorError::LostRace(Box::new(race)),
            Err(e) => e,
        }
    }

    async fn lost_race_of(&self, id: SessionId, attempt: Attempt) -> OrchResult<LostRace> {
        let session = self.store.session(id).await?;
        let approvers: Vec<Principal> = match &session.digest {
            Some(digest) => self
                .store
                .approvals(id)
                .await?
                .into_iter()
                .filter(|a| digest.matches(&a.digest))
                .map(|a| a.approver)
                .collect(),
            None => Vec::new(),
        };
        Ok(LostRace {
            session: id,
            state: session.state,
            reason: session.reason,
            approvers,
            attempt,
        })
    }
}

/// How long `cloud approve` waits for another process that holds the session (it is recording
/// its own approval) before saying who drives it.
const APPROVAL_RACE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How often it looks again meanwhile: the other process is in another address space, so the
/// store is the only place to see its approval land.
const APPROVAL_RACE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl Orchestrator {
    /// Take the lease of a session this process is about to approve and then apply (`cloud
    /// approve`). When another process holds it, that process is approving (or applying) the
    /// same plan: wait until it decides, and if it won, answer like every other race loser
    /// instead of "driven by another process".
    pub async fn drive_to_approve(&self, id: SessionId) -> OrchResult<super::LeaseGuard> {
        let started = tokio::time::Instant::now();
        loop {
            match self.drive(id).await {
                Err(held @ OrchestratorError::Store(StoreError::LeaseHeld { .. })) => {
                    let session = self.store.session(id).await?;
                    if session.state != SessionState::PlanReady {
                        return Err(self.lost_race(id, Attempt::Approve).await);
                    }
                    if started.elapsed() >= APPROVAL_RACE_WAIT {
                        return Err(held);
                    }
                    tokio::time::sleep(APPROVAL_RACE_POLL).await;
                }
                other => return other,
            }
        }
    }
}
