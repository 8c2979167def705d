//! The session state machine: the ten states of a deployment session and the one table that says
//! which moves between them are legal. Everything else in the program asks [`check_transition`];
//! nobody else decides.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a deployment session is in its life, from request to outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionState {
    /// Created, stacks chosen, nothing run yet.
    Draft,
    /// `pulumi preview` is running for the session's stacks.
    Planning,
    /// Every preview succeeded; the plan and its digest can be approved.
    PlanReady,
    /// At least one preview failed; the session can be retried or cancelled.
    PlanFailed,
    /// Enough approvals carrying the current digest were recorded.
    Approved,
    /// `pulumi up` is running stack by stack.
    Applying,
    /// Every stack applied. Terminal.
    Applied,
    /// An apply failed or was refused part-way. Terminal.
    Failed,
    /// Someone cancelled the session. Terminal.
    Cancelled,
    /// The plan outlived its environment's TTL. Terminal.
    Expired,
}

impl SessionState {
    /// Every state, in life-cycle order.
    pub const ALL: [SessionState; 10] = [
        SessionState::Draft,
        SessionState::Planning,
        SessionState::PlanReady,
        SessionState::PlanFailed,
        SessionState::Approved,
        SessionState::Applying,
        SessionState::Applied,
        SessionState::Failed,
        SessionState::Cancelled,
        SessionState::Expired,
    ];

    /// The stored and displayed name (`PLAN_READY`). The single mapping between the enum and TEXT.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Draft => "DRAFT",
            SessionState::Planning => "PLANNING",
            SessionState::PlanReady => "PLAN_READY",
            SessionState::PlanFailed => "PLAN_FAILED",
            SessionState::Approved => "APPROVED",
            SessionState::Applying => "APPLYING",
            SessionState::Applied => "APPLIED",
            SessionState::Failed => "FAILED",
            SessionState::Cancelled => "CANCELLED",
            SessionState::Expired => "EXPIRED",
        }
    }

    /// A terminal session never moves again; its stack locks are released.
    pub fn is_terminal(self) -> bool {
        match self {
            SessionState::Applied | SessionState::Failed | SessionState::Cancelled | SessionState::Expired => true,
            SessionState::Draft
            | SessionState::Planning
            | SessionState::PlanReady
            | SessionState::PlanFailed
            | SessionState::Approved
            | SessionState::Applying => false,
        }
    }

    /// States in which a process is actively driving the engine. A session found in one of these at
    /// start-up was left behind by a dead process and must be reconciled.
    pub fn is_running(self) -> bool {
        match self {
            SessionState::Planning | SessionState::Applying => true,
            SessionState::Draft
            | SessionState::PlanReady
            | SessionState::PlanFailed
            | SessionState::Approved
            | SessionState::Applied
            | SessionState::Failed
            | SessionState::Cancelled
            | SessionState::Expired => false,
        }
    }

    /// The states this one may move to — the decided table of `docs/design.md`, and the only copy of it.
    pub(crate) fn successors(self) -> &'static [SessionState] {
        use SessionState::*;
        match self {
            Draft => &[Planning, Cancelled],
            Planning => &[PlanReady, PlanFailed, Cancelled],
            PlanReady => &[Approved, Planning, Cancelled, Expired],
            PlanFailed => &[Planning, Cancelled],
            Approved => &[Applying, Expired, Cancelled],
            Applying => &[Applied, Failed, Cancelled],
            Applied | Failed | Cancelled | Expired => &[],
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of the ten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown session state `{0}` (expected one of DRAFT, PLANNING, PLAN_READY, PLAN_FAILED, APPROVED, APPLYING, APPLIED, FAILED, CANCELLED, EXPIRED)")]
pub struct UnknownState(pub String);

impl FromStr for SessionState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase().replace('-', "_");
        SessionState::ALL
            .into_iter()
            .find(|state| state.as_str() == wanted)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// A move the table does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The session is finished; nothing can happen to it any more.
    #[error("the session is already {from}, which is final; start a new session instead")]
    Terminal { from: SessionState },
    /// The target is not reachable from the current state.
    #[error("a session cannot go from {from} to {to} (from {from} it can go to: {allowed})")]
    Illegal {
        from: SessionState,
        to: SessionState,
        allowed: String,
    },
}

/// The one function that owns the transition table.
pub fn check_transition(from: SessionState, to: SessionState) -> Result<(), TransitionError> {
    let successors = from.successors();
    if successors.contains(&to) {
        return Ok(());
    }
    if from.is_terminal() {
        return Err(TransitionError::Terminal { from });
    }
    Err(TransitionError::Illegal {
        from,
        to,
        allowed: successors.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState::*;

    /// The decided table, written out a second time on purpose: the test must fail if the code's
    /// table drifts from docs/design.md.
    const DECIDED: &[(SessionState, SessionState)] = &[
        (Draft, Planning),
        (Draft, Cancelled),
        (Planning, PlanReady),
        (Planning, PlanFailed),
        (Planning, Cancelled),
        (PlanReady, Approved),
        (PlanReady, Planning),
        (PlanReady, Cancelled),
        (PlanReady, Expired),
        (PlanFailed, Planning),
        (PlanFailed, Cancelled),
        (Approved, Applying),
        (Approved, Expired),
        (Approved, Cancelled),
        (Applying, Applied),
        (Applying, Failed),
        (Applying, Cancelled),
    ];

    #[test]
    fn every_pair_of_the_ten_by_ten_grid_follows_the_decided_table() {
        let mut allowed = 0;
        for from in SessionState::ALL {
            for to in SessionState::ALL {
                let expected = DECIDED.contains(&(from, to));
                let got = check_transition(from, to);
                assert_eq!(got.is_ok(), expected, "{from} -> {to}: {got:?}");
                if let Err(err) = got {
                    match err {
                        TransitionError::Terminal { from: f } => {
                            assert!(from.is_terminal());
                            assert_eq!(f, from);
                        }
                        TransitionError::Illegal { from: f, to: t, .. } => {
                            assert!(!from.is_terminal());
                            assert_eq!((f, t), (from, to));
                        }
                    }
                } else {
                    allowed += 1;
                }
            }
        }
        assert_eq!(allowed, DECIDED.len());
    }

    #[test]
    fn terminal_states_are_exactly_the_four_without_successors() {
        for state in SessionState::ALL {
            assert_eq!(state.is_terminal(), state.successors().is_empty(), "{state}");
        }
    }

    #[test]
    fn names_round_trip_through_text() {
        for state in SessionState::ALL {
            assert_eq!(state.as_str().parse::<SessionState>().unwrap(), state);
            assert_eq!(state.to_string().to_lowercase().parse::<SessionState>().unwrap(), state);
        }
        assert!("READY".parse::<SessionState>().is_err());
    }

    #[test]
    fn an_illegal_move_says_where_it_can_go() {
        let err = check_transition(Draft, Applied).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a session cannot go from DRAFT to APPLIED (from DRAFT it can go to: PLANNING, CANCELLED)"
        );
        let err = check_transition(Applied, Planning).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the session is already APPLIED, which is final; start a new session instead"
        );
    }
}
