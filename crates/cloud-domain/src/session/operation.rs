//! What a session does to its stacks: deploy them, destroy them, or roll them back to an earlier
//! configuration. Stored as TEXT in `sessions.operation`; [`Operation::as_str`] and its
//! [`FromStr`] are the one mapping between the two, and every behaviour that depends on the
//! operation is an exhaustive `match` so that a new operation cannot be forgotten anywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of change a session makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Create or update the stacks from the manifest's current configuration (`pulumi up`).
    Deploy,
    /// Remove every resource of the stacks (`pulumi destroy`), dependents first.
    Destroy,
    /// `pulumi up` with the configuration an earlier APPLIED session recorded.
    Rollback,
}

impl Operation {
    /// Every operation (the store's `sessions.operation` CHECK constraint lists the same names).
    pub const ALL: [Operation; 3] = [Operation::Deploy, Operation::Destroy, Operation::Rollback];

    /// The stored and displayed name (`deploy`). The single mapping between the enum and TEXT.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Deploy => "deploy",
            Operation::Destroy => "destroy",
            Operation::Rollback => "rollback",
        }
    }

    /// Whether the session walks the dependency graph backwards: a stack is handled once every
    /// stack that depends on it is done. Only a destroy does, because removing a stack that others
    /// still read outputs from would break them.
    pub fn walks_backwards(self) -> bool {
        match self {
            Operation::Destroy => true,
            Operation::Deploy | Operation::Rollback => false,
        }
    }

    /// Whether the session's stacks are resolved with configuration recorded by an earlier session
    /// instead of the manifest's current values.
    pub fn restores_recorded_config(self) -> bool {
        match self {
            Operation::Rollback => true,
            Operation::Deploy | Operation::Destroy => false,
        }
    }

    /// Whether the stacks hold resources once the session is APPLIED — what quota usage counts and
    /// what a rollback can return to. A destroy leaves nothing behind.
    pub fn leaves_resources(self) -> bool {
        match self {
            Operation::Deploy | Operation::Rollback => true,
            Operation::Destroy => false,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation name that is not one of `Operation::ALL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown session operation `{0}` (expected one of deploy, destroy, rollback)")]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| UnknownOperation(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>().unwrap(), op);
            assert_eq!(serde_json::to_value(op).unwrap(), serde_json::json!(op.as_str()));
            assert_eq!(serde_json::from_value::<Operation>(op.as_str().into()).unwrap(), op);
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_that_lists_the_known_ones() {
        // `up` is the engine's verb, not a session operation; an old or hand-edited row must not
        // silently decode as a deploy.
        let err = "up".parse::<Operation>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown session operation `up` (expected one of deploy, destroy, rollback)"
        );
        assert!("Deploy".parse::<Operation>().is_err(), "the stored text is lowercase");
    }

    #[test]
    fn only_a_destroy_walks_backwards_and_leaves_nothing() {
        let backwards: Vec<Operation> = Operation::ALL.into_iter().filter(|o| o.walks_backwards()).collect();
        assert_eq!(backwards, [Operation::Destroy]);
        let empty: Vec<Operation> = Operation::ALL.into_iter().filter(|o| !o.leaves_resources()).collect();
        assert_eq!(empty, [Operation::Destroy]);
        let restoring: Vec<Operation> = Operation::ALL
            .into_iter()
            .filter(|o| o.restores_recorded_config())
            .collect();
        assert_eq!(restoring, [Operation::Rollback]);
    }
}
