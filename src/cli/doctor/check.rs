//! One line of `cloud doctor`: its status, what was found and, for a problem, the fix.

use std::fmt::Write as _;
use std::time::Duration;

/// How long connecting to an http(s) backend may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Ready.
    Ok,
    /// Not checked (e.g. an `s3://` backend): the line says what to check by hand.
    Skipped,
    /// Works, but worth a look (e.g. no cloud credentials: fine for the offline stand-in).
    Warn,
    /// Not usable as configured; `cloud doctor` exits 2.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `pulumi binary`.
    pub name: &'static str,
    pub status: Status,
    /// What was found (never a secret value).
    pub detail: String,
    /// How to fix it (for warnings and failures).
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn with(name: &'static str, status: Status, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// `ok    pulumi binary      /usr/bin/pulumi (v3.130.0)` — one line, the fix after `— fix:`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<4}  {:<18} {}",
            self.status.label(),
            self.name,
            one_line(&self.detail)
        );
        if let Some(fix) = &self.fix {
            if self.status != Status::Ok {
                let _ = write!(s, " — fix: {}", one_line(fix));
            }
        }
        s
    }
}

pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
