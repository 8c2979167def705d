//! The [`ErrorCode`] of each store error (docs/troubleshooting.md).

use cloud_domain::error_code::{Coded, ErrorCode};

use crate::StoreError;

impl Coded for StoreError {
    fn error_code(&self) -> ErrorCode {
        match self {
            StoreError::StateChanged { .. } => ErrorCode::SessionChanged,
            StoreError::Transition(_) => ErrorCode::TransitionNotAllowed,
            StoreError::Fenced { .. } => ErrorCode::LeaseLost,
            StoreError::LeaseHeld { .. } => ErrorCode::LeaseHeld,
            StoreError::SessionNotFound(_) => ErrorCode::SessionNotFound,
            StoreError::AmbiguousSession(_) => ErrorCode::SessionAmbiguous,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Corrupt(_) => ErrorCode::StoreCorrupt,
            StoreError::UnsupportedUrl(_) => ErrorCode::DatabaseUrl,
            StoreError::Open { .. } => ErrorCode::DatabaseUnreachable,
            StoreError::MigrationLock(_) | StoreError::Migrate(_) => ErrorCode::MigrationFailed,
            StoreError::Db(_) => ErrorCode::DatabaseError,
        }
    }
}
