//! Errors of the stand-in and the one table that maps them to process exit codes.
//!
//! The codes follow the contract for Pulumi CLI v3.226+ (`docs/pulumi-contract.md`):
//! callers (the engine adapter) branch on them, so they live here and nowhere else.

use thiserror::Error;

/// Process exit codes, as the real CLI uses them.
pub mod exit {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// Any engine failure: a failed step, a held lock, a graceful cancel, a config error.
    pub const FAILURE: i32 = 1;
    /// Bad flags or a missing `--yes` / `--skip-preview` in non-interactive mode.
    pub const USAGE: i32 = 2;
    /// Authentication: the stand-in has no cloud backend, so no usable backend URL means this.
    pub const AUTH: i32 = 3;
    /// The stack does not exist.
    pub const STACK_NOT_FOUND: i32 = 6;
    /// `--expect-no-changes` was given and the operation had changes.
    pub const EXPECT_NO_CHANGES: i32 = 7;
    /// Cancelled by a second SIGINT.
    pub const CANCELLED: i32 = 8;
    /// Internal error (I/O, corrupt state) and the simulated crash.
    pub const INTERNAL: i32 = 255;
}

/// Everything that can stop a command. The message is printed as `error: <message>` on stderr,
/// except for [`StandinError::Reported`], whose details already went to the event stream.
#[derive(Debug, Error)]
pub enum StandinError {
    /// Bad flags or arguments (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No usable login for the backend (exit 3).
    #[error("{0}")]
    Auth(String),
    /// `no stack named '<name>' found` (exit 6).
    #[error("no stack named '{0}' found")]
    StackNotFound(String),
    /// A user-facing failure (exit 1): lock held, missing passphrase, config errors, ...
    #[error("{0}")]
    Failed(String),
    /// The engine already reported the failure through diagnostics; exit with this code and
    /// print nothing more on stderr.
    #[error("engine failure (exit {0})")]
    Reported(i32),
    /// An unexpected I/O or encoding problem (exit 255).
    #[error("{context}: {source}")]
    Internal {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StandinError {
    /// The process exit code for this error — the single place where errors become codes.
    pub fn exit_code(&self) -> i32 {
        match self {
            StandinError::Usage(_) => exit::USAGE,
            StandinError::Auth(_) => exit::AUTH,
            StandinError::StackNotFound(_) => exit::STACK_NOT_FOUND,
            StandinError::Failed(_) => exit::FAILURE,
            StandinError::Reported(code) => *code,
            StandinError::Internal { .. } => exit::INTERNAL,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        StandinError::Failed(message.into())
    }

    pub fn usage(message: impl Into<String>) -> Self {
        StandinError::Usage(message.into())
    }
}

pub type Result<T, E = StandinError> = std::result::Result<T, E>;

/// Attach a "what were we doing" context to I/O and encoding errors (they become exit 255).
pub trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| StandinError::Internal {
            context: context(),
            source: Box::new(source),
        })
    }
}
