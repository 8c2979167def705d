//! Sessions: one attempt to change one deployment in one environment, from request to outcome.
//! The state machine, the identifiers and the plan (with its digest) live here; nothing here does
//! I/O.

mod ids;
mod operation;
mod plan;
mod principal;
mod provider;
mod state;

pub use ids::{DeploymentId, FullStackName, InvalidId, SessionId, StackName};
pub use operation::{Operation, UnknownOperation};
pub use plan::{Digest, Plan, StackPlanEntry};
pub use principal::{InvalidPrincipal, Platform, Principal};
pub use provider::{Provider, UnknownProvider};
pub use state::{check_transition, SessionState, TransitionError, UnknownState};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where one stack of a session is. Lives beside the session so that a FAILED session says which
/// stacks changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackState {
    Pending,
    Previewing,
    Previewed,
    Applying,
    Applied,
    Failed,
    Skipped,
}

impl StackState {
    /// Every sub-state (the store's `session_stacks.state` CHECK constraint lists the same names).
    pub const ALL: [StackState; 7] = [
        StackState::Pending,
        StackState::Previewing,
        StackState::Previewed,
        StackState::Applying,
        StackState::Applied,
        StackState::Failed,
        StackState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StackState::Pending => "pending",
            StackState::Previewing => "previewing",
            StackState::Previewed => "previewed",
            StackState::Applying => "applying",
            StackState::Applied => "applied",
            StackState::Failed => "failed",
            StackState::Skipped => "skipped",
        }
    }
}

impl fmt::Display for StackState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StackState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StackState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}
