//! The [`ErrorCode`] of each error of the core (docs/troubleshooting.md).

use cloud_domain::error_code::{Coded, ErrorCode};

use crate::audit_key::AuditKeyError;
use crate::config::ConfigError;
use crate::engine::EngineError;
use crate::orchestrator::OrchestratorError;
use crate::policy::AccessError;

impl Coded for ConfigError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ConfigError::Read { .. } => ErrorCode::ConfigUnreadable,
            ConfigError::Parse { .. } | ConfigError::ParseNoLocation { .. } => ErrorCode::ConfigSyntax,
            ConfigError::Invalid { .. } => ErrorCode::ConfigInvalid,
            ConfigError::DataDir { .. } => ErrorCode::DataDirUnusable,
            ConfigError::Private { .. } => ErrorCode::PermissionsTooOpen,
        }
    }
}

impl Coded for AuditKeyError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AuditKeyError::Loose { .. } => ErrorCode::PermissionsTooOpen,
            AuditKeyError::Malformed { .. } => ErrorCode::AuditKeyMalformed,
            AuditKeyError::Io { .. } => ErrorCode::AuditKeyUnreadable,
        }
    }
}

impl Coded for EngineError {
    fn error_code(&self) -> ErrorCode {
        match self {
            EngineError::BinaryNotFound { .. } => ErrorCode::EngineNotFound,
            EngineError::StackBusy { .. } => ErrorCode::EngineStackLocked,
            EngineError::MissingStack { .. } => ErrorCode::EngineStackMissing,
            EngineError::MissingConfig { .. } => ErrorCode::EngineConfigMissing,
            EngineError::MissingPassphrase { .. } => ErrorCode::EnginePassphraseMissing,
            EngineError::CommandFailed { .. } => ErrorCode::EngineCommandFailed,
            EngineError::PreviewFailed { .. } => ErrorCode::PreviewFailed,
            EngineError::UpdateFailed { .. } => ErrorCode::UpdateFailed,
            EngineError::Crashed { .. } => ErrorCode::EngineCrashed,
            EngineError::Cancelled { .. } => ErrorCode::EngineCancelled,
            EngineError::Timeout { .. } => ErrorCode::EngineTimeout,
            EngineError::Io { .. } => ErrorCode::EngineIo,
        }
    }
}

impl Coded for OrchestratorError {
    fn error_code(&self) -> ErrorCode {
        match self {
            OrchestratorError::User(user) => user.error_code(),
            OrchestratorError::LostRace(_) => ErrorCode::SessionChanged,
            OrchestratorError::Store(store) => store.error_code(),
            OrchestratorError::Busy { .. } | OrchestratorError::Refused { .. } => ErrorCode::StacksBusy,
            OrchestratorError::Waiting { .. } => ErrorCode::QueuedWaiting,
        }
    }
}

impl Coded for AccessError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AccessError::Denied(user) => user.error_code(),
            AccessError::Store(store) => store.error_code(),
        }
    }
}
