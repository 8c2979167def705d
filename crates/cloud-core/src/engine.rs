//! The engine port. The orchestrator only knows the [`Engine`] trait: what it asks of an engine
//! (preview, up, destroy, outputs, unlock, export), what an engine reports while it works
//! ([`Progress`]) and how it fails ([`EngineError`]). The Pulumi CLI adapter (crate cloud-pulumi)
//! is one implementation; the test kit's fake engines are others.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use cloud_domain::session::FullStackName;

pub use cloud_domain::engine::{ChangeCounts, ConfigValue, ResourceStep, Severity, StackApply, StackPreview, StepOp};

/// Everything an engine needs to act on one stack.
#[derive(Debug, Clone)]
pub struct StackTarget {
    /// The fully qualified Pulumi stack.
    pub name: FullStackName,
    /// The program directory (`stacks/<stack>`): the working directory of every engine call.
    pub workdir: PathBuf,
    /// Resolved configuration, already in the order it should be set.
    pub config: Vec<ConfigValue>,
    /// The secret values of every stack of the session's deployment in this environment (not
    /// only this stack's): an engine redacts all of them from everything it reports about this
    /// stack, because a program can echo a secret it was never given (read from a shared store,
    /// an upstream output, a log) and redaction per stack would let it reach chat in clear.
    pub session_secrets: Vec<String>,
}

/// What an engine reports while it works, as it happens. Lines are already redacted. Stored in
/// the session event log in batches (`{"line": "…"}`, `{"step_done": {…}}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// A resource step started (`resourcePreEvent`).
    StepStarted {
        urn: String,
        resource_type: String,
        op: StepOp,
    },
    /// A resource step finished (`resOutputsEvent`).
    StepDone {
        urn: String,
        resource_type: String,
        op: StepOp,
    },
    /// A resource step failed (`resOpFailedEvent`).
    StepFailed {
        urn: String,
        resource_type: String,
        op: StepOp,
    },
    /// A human-readable line of engine output (diagnostics, stdout events).
    Line(String),
    /// The orchestrator starts an engine operation on the stack: what follows belongs to it
    /// (a re-preview's steps are not the apply's). Logs show it as a header.
    Phase(EnginePhase),
}

/// Which engine operation the [`Progress`] that follows belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnginePhase {
    /// The plan's preview (or destroy preview).
    Preview,
    /// The apply-time re-preview of a provisional stack.
    RePreview,
    /// `pulumi up`.
    Apply,
    /// `pulumi destroy`.
    Destroy,
}

impl EnginePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            EnginePhase::Preview => "preview",
            EnginePhase::RePreview => "re-preview",
            EnginePhase::Apply => "apply",
            EnginePhase::Destroy => "destroy",
        }
    }

    /// Whether the phase's steps change the stack (and so move an apply's progress bar).
    pub fn changes_resources(self) -> bool {
        match self {
            EnginePhase::Apply | EnginePhase::Destroy => true,
            EnginePhase::Preview | EnginePhase::RePreview => false,
        }
    }

    /// The header logs show where the phase starts: `── re-preview ──`.
    pub fn header(self) -> String {
        format!("── {} ──", self.as_str())
    }
}

impl Progress {
    /// The line this item leaves in `cloud logs`.
    pub fn log_line(&self) -> Option<String> {
        match self {
            Progress::StepStarted { urn, resource_type, op } => {
                Some(format!("{op} {resource_type} {} ...", ResourceStep::name_from_urn(urn)))
            }
            Progress::StepDone { urn, resource_type, op } => Some(format!(
                "{op} {resource_type} {} done",
                ResourceStep::name_from_urn(urn)
            )),
            Progress::StepFailed { urn, resource_type, op } => Some(format!(
                "{op} {resource_type} {} FAILED",
                ResourceStep::name_from_urn(urn)
            )),
            Progress::Line(line) => Some(line.clone()),
            Progress::Phase(phase) => Some(phase.header()),
        }
    }
}

/// Where an engine sends [`Progress`]. Unbounded on purpose: the engine must never block on a slow
/// chat adapter; the output batcher downstream decides what reaches chat.
pub type ProgressSink = mpsc::UnboundedSender<Progress>;

/// Why an engine operation did not succeed — classified so callers can branch and users get a
/// message that says what happened and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("the engine binary `{path}` was not found ({hint})")]
    BinaryNotFound { path: String, hint: String },
    #[error("stack {stack} is busy: another update holds its lock{}; wait for it to finish, or if it died, run `cloud` recovery or `pulumi cancel`", holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    StackBusy { stack: String, holder: Option<String> },
    #[error("stack {stack} does not exist in the backend")]
    MissingStack { stack: String },
    #[error("stack {stack} is missing configuration value `{key}`; set it in the deployment manifest")]
    MissingConfig { stack: String, key: String },
    #[error("the secrets passphrase for {stack} is not set: set `pulumi.passphrase_file` (or the PULUMI_CONFIG_PASSPHRASE environment variable of the bot) — the local backend needs it for every stack")]
    MissingPassphrase { stack: String },
    #[error("a pulumi command for {stack} failed ({}): {message}", exit_text(*code))]
    CommandFailed {
        stack: String,
        code: Option<i32>,
        message: String,
    },
    #[error("preview of {stack} failed:\n{}", diagnostics.join("\n"))]
    PreviewFailed { stack: String, diagnostics: Vec<String> },
    #[error("update of {stack} failed:\n{}", diagnostics.join("\n"))]
    UpdateFailed { stack: String, diagnostics: Vec<String> },
    #[error("the engine crashed on {stack} ({}) without a summary{}; last output:\n{tail}", exit_text(*code), last_line(tail).map(|l| format!(": {l}")).unwrap_or_default())]
    Crashed {
        stack: String,
        code: Option<i32>,
        tail: String,
    },
    #[error("the operation on {stack} was cancelled")]
    Cancelled { stack: String },
    #[error("the operation on {stack} timed out after {after:?} and was stopped")]
    Timeout { stack: String, after: Duration },
    #[error("could not run the engine for {stack}: {message}")]
    Io { stack: String, message: String },
}

impl EngineError {
    /// Whether the failed operation may have left the engine's own stack lock behind (a crash, a
    /// timeout, a non-zero exit, a full disk…), so the caller should release it (`pulumi cancel`)
    /// before the stack can run again. Never for a busy stack: that lock is another process's.
    pub fn may_leave_engine_lock(&self) -> bool {
        match self {
            EngineError::Crashed { .. }
            | EngineError::Timeout { .. }
            | EngineError::CommandFailed { .. }
            | EngineError::UpdateFailed { .. }
            | EngineError::Io { .. } => true,
            EngineError::BinaryNotFound { .. }
            | EngineError::StackBusy { .. }
            | EngineError::MissingStack { .. }
            | EngineError::MissingConfig { .. }
            | EngineError::MissingPassphrase { .. }
            | EngineError::PreviewFailed { .. }
            | EngineError::Cancelled { .. } => false,
        }
    }
}

/// How a process ended, for messages: `exit code 255`, or `killed by a signal` when the OS gave
/// no code.
fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    }
}

/// The last non-empty line of an output tail: usually the line that says why a process died,
/// so one-line renderings (a stack row, a chat field) still show it.
fn last_line(tail: &str) -> Option<&str> {
    tail.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// An infrastructure engine. Implementations must be cancel-safe: dropping a future stops the
/// underlying work (the Pulumi adapter kills its child on drop).
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// The engine's version, part of the plan digest.
    async fn version(&self) -> Result<String, EngineError>;

    /// Preview the stack: what `up` would do. Takes no lock.
    async fn preview(&self, target: &StackTarget, progress: &ProgressSink) -> Result<StackPreview, EngineError>;

    /// Preview destroying the stack: the steps a destroy would take (`destroy --preview-only`).
    /// Takes no lock.
    async fn preview_destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
    ) -> Result<StackPreview, EngineError> {
        let _ = progress;
        Err(EngineError::Io {
            stack: target.name.pulumi_stack(),
            message: "this engine cannot preview a destroy".into(),
        })
    }

    /// Apply the stack. `cancel` asks for a graceful stop (in-flight steps finish).
    async fn up(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError>;

    /// Destroy every resource of the stack.
    async fn destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError>;

    /// The stack's outputs as one JSON object (secrets stay `[secret]`).
    async fn outputs(&self, target: &StackTarget) -> Result<serde_json::Value, EngineError>;

    /// Release what a dead process left behind (locks) so the stack can be used again.
    async fn unlock(&self, target: &StackTarget) -> Result<(), EngineError>;

    /// What the backend holds for the stack (`pulumi stack export`): start-up recovery reads it
    /// to record what a dead process left behind. Engines that cannot tell say so.
    async fn export(&self, target: &StackTarget) -> Result<StackExport, EngineError> {
        Err(EngineError::Io {
            stack: target.name.pulumi_stack(),
            message: "this engine cannot export stack state".into(),
        })
    }
}

/// A stack's state as `pulumi stack export` shows it, reduced to what recovery reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackExport {
    /// Resources in the state (the root stack and providers included).
    pub resources: usize,
    /// Operations a dead process started and never finished: `<kind> <resource name>`
    /// (e.g. `creating vpc`). Those resources are in an unknown state.
    pub pending_operations: Vec<String>,
}

impl StackExport {
    /// Parse the document `pulumi stack export` prints: `{"version": 3, "deployment": {...}}`.
    pub fn from_json(text: &str) -> Result<StackExport, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let deployment = v.get("deployment").ok_or("no `deployment` in the export")?;
        let resources = deployment
            .get("resources")
            .and_then(|r| r.as_array())
            .map(Vec::len)
            .unwrap_or(0);
        let pending_operations = deployment
            .get("pending_operations")
            .and_then(|p| p.as_array())
            .map(|ops| {
                ops.iter()
                    .map(|op| {
                        let kind = op.get("type").and_then(|t| t.as_str()).unwrap_or("pending");
                        let urn = op.pointer("/resource/urn").and_then(|u| u.as_str()).unwrap_or("?");
                        format!("{kind} {}", ResourceStep::name_from_urn(urn))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(StackExport {
            resources,
            pending_operations,
        })
    }

    /// One line for a stack row: `12 resources in state; 1 pending operation: creating vpc`.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{} resource(s) in state", self.resources);
        if self.pending_operations.is_empty() {
            text.push_str("; no pending operation");
        } else {
            text.push_str(&format!(
                "; {} pending operation(s), unknown state: {}",
                self.pending_operations.len(),
                self.pending_operations.join(", ")
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_names_its_exit_and_last_words_on_the_first_line() {
        let err = EngineError::Crashed {
            stack: "D1BRV40-network-dev".into(),
            code: Some(255),
            tail: "Updating (D1BRV40-network-dev):\n  + vpc created\npanic: out of memory\n\n".into(),
        };
        let first = err.to_string().lines().next().unwrap().to_string();
        assert_eq!(
            first,
            "the engine crashed on D1BRV40-network-dev (exit code 255) without a summary: panic: out of memory; last output:"
        );
        let killed = EngineError::CommandFailed {
            stack: "s".into(),
            code: None,
            message: "gone".into(),
        };
        assert_eq!(
            killed.to_string(),
            "a pulumi command for s failed (killed by a signal): gone"
        );
    }
}
