//! How a failure becomes a chat reply: a user's mistake is explained (what went wrong, what to
//! do), anything else is logged with a short reference the reply names. Actions and the lobby
//! feed both answer through it.

use tracing::error;

use crate::view::{self, Reply};
use cloud_core::orchestrator::OrchestratorError;
use cloud_core::store::StoreError;

/// A short reference tying a chat error message to the log line with the full chain.
pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> Reply {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    error!(reference, error = %e, "{what}");
    view::internal_error_message(&reference)
}

pub(crate) fn from_orch(e: OrchestratorError) -> Reply {
    match e {
        OrchestratorError::Store(
            StoreError::Db(_) | StoreError::Open { .. } | StoreError::Migrate(_) | StoreError::Corrupt(_),
        ) => internal("store error", e.to_user()),
        other => view::user_error_message(&other.to_user()),
    }
}
