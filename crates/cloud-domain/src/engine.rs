//! The engine-neutral result model: resource steps, counts by operation, diagnostics.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A step operation as Pulumi names it. Unknown names are kept, not rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StepOp {
    Same,
    Create,
    Update,
    Delete,
    Replace,
    CreateReplacement,
    DeleteReplaced,
    Read,
    ReadReplacement,
    Refresh,
    Discard,
    DiscardReplaced,
    RemovePendingReplace,
    Import,
    ImportReplacement,
    Other(String),
}

impl StepOp {
    pub fn as_str(&self) -> &str {
        match self {
            StepOp::Same => "same",
            StepOp::Create => "create",
            StepOp::Update => "update",
            StepOp::Delete => "delete",
            StepOp::Replace => "replace",
            StepOp::CreateReplacement => "create-replacement",
            StepOp::DeleteReplaced => "delete-replaced",
            StepOp::Read => "read",
            StepOp::ReadReplacement => "read-replacement",
            StepOp::Refresh => "refresh",
            StepOp::Discard => "discard",
            StepOp::DiscardReplaced => "discard-replaced",
            StepOp::RemovePendingReplace => "remove-pending-replace",
            StepOp::Import => "import",
            StepOp::ImportReplacement => "import-replacement",
            StepOp::Other(other) => other,
        }
    }

    /// Whether the step changes anything (everything but `same`, `read` and `refresh`).
    pub fn is_change(&self) -> bool {
        !matches!(self, StepOp::Same | StepOp::Read | StepOp::Refresh)
    }
}

impl From<String> for StepOp {
    fn from(value: String) -> Self {
        StepOp::from(value.as_str())
    }
}

impl From<&str> for StepOp {
    fn from(value: &str) -> Self {
        match value {
            "same" => StepOp::Same,
            "create" => StepOp::Create,
            "update" => StepOp::Update,
            "delete" => StepOp::Delete,
            "replace" => StepOp::Replace,
            "create-replacement" => StepOp::CreateReplacement,
            "delete-replaced" => StepOp::DeleteReplaced,
            "read" => StepOp::Read,
            "read-replacement" => StepOp::ReadReplacement,
            "refresh" => StepOp::Refresh,
            "discard" => StepOp::Discard,
            "discard-replaced" => StepOp::DiscardReplaced,
            "remove-pending-replace" => StepOp::RemovePendingReplace,
            "import" => StepOp::Import,
            "import-replacement" => StepOp::ImportReplacement,
            other => StepOp::Other(other.to_string()),
        }
    }
}

impl From<StepOp> for String {
    fn from(value: StepOp) -> Self {
        value.as_str().to_string()
    }
}

impl fmt::Display for StepOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource step of a preview or update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceStep {
    pub urn: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The resource's logical name (last URN segment).
    pub name: String,
    pub op: StepOp,
    /// The new inputs, when the engine reported them (used for cost estimates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
    /// The old inputs, for updates, replaces and deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_inputs: Option<serde_json::Value>,
}

impl ResourceStep {
    /// The logical name of a resource from its URN (`urn:pulumi:s::p::t::name` → `name`).
    pub fn name_from_urn(urn: &str) -> String {
        urn.rsplit("::").next().unwrap_or(urn).to_string()
    }
}

/// Counts by step operation, e.g. `{create: 3, same: 10}`.
pub type ChangeCounts = BTreeMap<String, u64>;

/// Diagnostic severity as Pulumi names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
    Infoerr,
    Debug,
}

/// A message from the engine about the run or one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
}

/// The outcome of a successful preview of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackPreview {
    /// Steps in stream order, default providers filtered out.
    pub steps: Vec<ResourceStep>,
    /// The engine's own totals when it gave them, otherwise counted from the steps.
    pub counts: ChangeCounts,
    /// Errors first, then warnings, then the rest.
    pub diagnostics: Vec<Diagnostic>,
    pub duration_ms: u64,
}

impl StackPreview {
    /// Number of steps that change something.
    pub fn change_count(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(op, _)| StepOp::from(op.as_str()).is_change())
            .map(|(_, n)| n)
            .sum()
    }
}

/// The outcome of a successful update or destroy of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackApply {
    pub counts: ChangeCounts,
    pub diagnostics: Vec<Diagnostic>,
    pub duration_ms: u64,
    /// The stack's outputs after the update (secrets stay `[secret]`).
    pub outputs: serde_json::Value,
}

/// One configuration value handed to a stack. Secret values are set with `--secret` and scrubbed
/// from every output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigValue {
    pub key: String,
    pub value: String,
    pub secret: bool,
}
