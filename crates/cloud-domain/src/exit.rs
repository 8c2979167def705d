//! The CLI's exit codes: one meaning each, the same for every command.

/// The CLI's exit codes (0 success, 1 failed, 2 invalid, 3 not permitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// 0: success.
    Success = 0,
    /// 1: the operation ran and failed (e.g. a preview error, a failed apply).
    Failed = 1,
    /// 2: invalid input or configuration; nothing was changed.
    Invalid = 2,
    /// 3: not permitted; the message says which grant is missing.
    Denied = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}
