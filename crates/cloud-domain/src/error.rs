//! Errors that reach a person. A [`UserError`] is shown verbatim (CLI stderr, ephemeral chat
//! reply) with an exit code; anything else is an internal error shown as "something went wrong".

use std::fmt;

use crate::error_code::ErrorCode;
pub use crate::exit::ExitCode;

/// An error whose text is written for the person who caused it: it names the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub code: ExitCode,
    pub message: String,
    /// The specific kind of failure, when one is known (the CLI prints it under the message
    /// with its troubleshooting link); `None` is the generic code of `code`.
    pub error_code: Option<ErrorCode>,
}

impl UserError {
    pub fn invalid(message: impl Into<String>) -> Self {
        UserError {
            code: ExitCode::Invalid,
            message: message.into(),
            error_code: None,
        }
    }

    pub fn denied(message: impl Into<String>) -> Self {
        UserError {
            code: ExitCode::Denied,
            message: message.into(),
            error_code: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        UserError {
            code: ExitCode::Failed,
            message: message.into(),
            error_code: None,
        }
    }
}

impl UserError {
    /// The same refusal, with its specific [`ErrorCode`].
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.error_code = Some(code);
        self
    }

    /// Its code: the specific one, or the generic one of its exit code.
    pub fn error_code(&self) -> ErrorCode {
        self.error_code.unwrap_or_else(|| ErrorCode::generic(self.code))
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}
