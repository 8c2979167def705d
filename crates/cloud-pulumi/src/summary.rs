//! Per-stack results built from an engine-event stream (or a `pulumi preview --json` document),
//! and `cloud plan show`: what a plan will do, readable by people and by scripts.
//!
//! Counting rules (checked against the recorded streams in `crates/cloud-testkit/fixtures/pulumi`):
//! * The engine's own `summaryEvent.resourceChanges` is authoritative when the stream has one.
//! * Otherwise we count like the engine does when it builds that map: one per *finished* step
//!   (`resOutputsEvent`) that is the logical operation on its resource (`logical: true`; the
//!   field is `omitempty`, so absent means false — the create-replacement / delete-replaced
//!   halves of a replace are not logical), each resource once (components and the root stack
//!   report outputs a second time), leaving out internal steps (default providers,
//!   `remove-pending-replace`) and `read` steps that changed nothing. [`count_finished_steps`]
//!   implements that rule.
//! * Steps shown to people are one per `resourcePreEvent`, in stream order, without default
//!   providers (`pulumi:providers:<pkg>::default…`), which the CLI's own display hides too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::events::{parse_stream, EngineEvent, EventKind, SkippedInput, State, StepMeta, SummaryEvent, Truncated};
use cloud_domain::engine::{ChangeCounts, Diagnostic, ResourceStep, Severity, StackApply, StackPreview, StepOp};

/// Whether a resource is a default provider (`pulumi:providers:aws` named `default…`), which the
/// engine creates on its own and people did not write.
pub fn is_default_provider(resource_type: &str, urn: &str) -> bool {
    resource_type.starts_with("pulumi:providers:") && ResourceStep::name_from_urn(urn).starts_with("default")
}

/// The type part of a URN (`urn:pulumi:s::p::a$b::name` → `b`).
pub(crate) fn type_from_urn(urn: &str) -> String {
    let parts: Vec<&str> = urn.split("::").collect();
    if parts.len() >= 4 {
        let qualified = parts[parts.len() - 2];
        qualified.rsplit('$').next().unwrap_or(qualified).to_string()
    } else {
        String::new()
    }
}

/// The stack part of a URN (`urn:pulumi:<stack>::…`).
pub(crate) fn stack_from_urn(urn: &str) -> Option<String> {
    urn.strip_prefix("urn:pulumi:")?.split("::").next().map(str::to_string)
}

/// Removes Pulumi's color markup (`<{%fg 1%}>`, `<{%reset%}>`), ANSI escapes and trailing
/// whitespace from engine text.
pub(crate) fn strip_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<{%") {
            if let Some(end) = after.find("%}>") {
                rest = &after[end + 3..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('\u{1b}') {
            if let Some(after) = after.strip_prefix('[') {
                let end = after
                    .find(|c: char| c.is_ascii_alphabetic())
                    .map(|i| i + 1)
                    .unwrap_or(after.len());
                rest = &after[end..];
                continue;
            }
        }
        let ch = rest.chars().next().unwrap();
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out.trim_end().to_string()
}

pub(crate) fn severity_from(text: &str) -> Severity {
    match text {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        "infoerr" => Severity::Infoerr,
        "debug" => Severity::Debug,
        _ => Severity::Info,
    }
}

/// Sort diagnostics errors first, then warnings, then the rest; stable within a severity.
pub(crate) fn sort_diagnostics(diags: &mut [Diagnostic]) {
    fn rank(s: Severity) -> u8 {
        match s {
            Severity::Error => 0,
            Severity::Warning => 1,
            Severity::Infoerr => 2,
            Severity::Info => 3,
            Severity::Debug => 4,
        }
    }
    diags.sort_by_key(|d| rank(d.severity));
}

/// A step the engine reported as failed (`resOpFailedEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedStep {
    pub urn: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub op: StepOp,
    pub status: i64,
}

fn step_from_meta(meta: &StepMeta) -> ResourceStep {
    let inputs = |s: &Option<State>| s.as_ref().map(|s| Value::Object(s.inputs.clone()));
    ResourceStep {
        urn: meta.urn.clone(),
        resource_type: meta.resource_type.clone(),
        name: ResourceStep::name_from_urn(&meta.urn),
        op: meta.op.clone(),
        inputs: inputs(&meta.new),
        old_inputs: inputs(&meta.old),
    }
}

/// Whether a finished step counts in the engine's totals (see the module header). Refresh steps
/// are handled by [`count_finished_steps`].
pub(crate) fn counts_as_change(meta: &StepMeta) -> bool {
    // `logical` is `omitempty` in Pulumi's Go struct: absent means false.
    if meta.logical != Some(true) {
        return false;
    }
    if is_default_provider(&meta.resource_type, &meta.urn) || meta.op == StepOp::RemovePendingReplace {
        return false;
    }
    if meta.op == StepOp::Read {
        return match (&meta.old, &meta.new) {
            (Some(old), Some(new)) => old.outputs != new.outputs,
            _ => false,
        };
    }
    true
}

/// Count finished steps like the engine does (for streams without a summary). `refreshed` are
/// the URNs whose step started as `refresh`: such a step is never logical, finishes with the
/// refresh's *result* op (`same`, `update`, `delete`) and is always counted under it.
pub fn count_finished_steps<'a>(
    finished: impl IntoIterator<Item = &'a StepMeta>,
    refreshed: &std::collections::HashSet<String>,
) -> ChangeCounts {
    let mut counts = ChangeCounts::new();
    let mut seen = std::collections::HashSet::new();
    for meta in finished {
        let counted = counts_as_change(meta)
            || (refreshed.contains(&meta.urn) && !is_default_provider(&meta.resource_type, &meta.urn));
        // A component's `registerOutputs` (and the root stack's outputs) produce a second
        // `resOutputsEvent` for the same step: count each (resource, op) once.
        if counted && seen.insert((meta.urn.as_str(), meta.op.as_str())) {
            *counts.entry(meta.op.to_string()).or_default() += 1;
        }
    }
    counts
}

/// Count planned steps (one per `resourcePreEvent`) with the same rule.
pub(crate) fn count_steps(steps: &[ResourceStep], logical: &[bool]) -> ChangeCounts {
    let mut counts = ChangeCounts::new();
    let mut seen = std::collections::HashSet::new();
    for (step, logical) in steps.iter().zip(logical) {
        if *logical
            && !is_default_provider(&step.resource_type, &step.urn)
            && step.op != StepOp::RemovePendingReplace
            && seen.insert((step.urn.as_str(), step.op.as_str()))
        {
            *counts.entry(step.op.to_string()).or_default() += 1;
        }
    }
    counts
}

/// Everything one stack's stream says, built incrementally with `StreamSummary::push`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSummary {
    /// One per `resourcePreEvent`, stream order, default providers included (see
    /// `StreamSummary::display_steps`).
    pub steps: Vec<ResourceStep>,
    /// Per entry of `steps`: whether the step is logical.
    pub logical: Vec<bool>,
    /// Metadata of every `resOutputsEvent`, stream order.
    pub finished: Vec<StepMeta>,
    pub failed: Vec<FailedStep>,
    /// Diagnostics in stream order (debug severity left out); use `StreamSummary::diagnostics`.
    pub diags: Vec<Diagnostic>,
    /// `errorEvent` texts.
    pub errors: Vec<String>,
    pub summary: Option<SummaryEvent>,
    pub saw_cancel: bool,
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
    pub events: u64,
}

impl StreamSummary {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a EngineEvent>) -> Self {
        let mut s = StreamSummary::default();
        for e in events {
            s.push(e);
        }
        s
    }

    pub(crate) fn push(&mut self, event: &EngineEvent) {
        self.events += 1;
        if event.timestamp > 0 {
            self.first_timestamp.get_or_insert(event.timestamp);
            self.last_timestamp = Some(event.timestamp);
        }
        match &event.kind {
            EventKind::ResourcePre(e) => {
                self.steps.push(step_from_meta(&e.metadata));
                self.logical.push(e.metadata.logical == Some(true));
            }
            EventKind::ResOutputs(e) => self.finished.push(e.metadata.clone()),
            EventKind::ResOpFailed(e) => self.failed.push(FailedStep {
                urn: e.metadata.urn.clone(),
                resource_type: e.metadata.resource_type.clone(),
                op: e.metadata.op.clone(),
                status: e.status,
            }),
            EventKind::Diagnostic(d) => {
                let severity = severity_from(&d.severity);
                if severity != Severity::Debug {
                    let message = strip_colors(&d.message);
                    if !message.is_empty() {
                        self.diags.push(Diagnostic {
                            severity,
                            message,
                            urn: d.urn.clone(),
                        });
                    }
                }
            }
            EventKind::Error(e) => self.errors.push(strip_colors(&e.error)),
            EventKind::Summary(s) => self.summary = Some(s.clone()),
            EventKind::Cancel(_) => self.saw_cancel = true,
            _ => {}
        }
    }

    /// URNs whose step started as a `refresh`.
    pub fn refreshed_urns(&self) -> std::collections::HashSet<String> {
        self.steps
            .iter()
            .filter(|s| s.op == StepOp::Refresh)
            .map(|s| s.urn.clone())
            .collect()
    }

    /// Steps for people: default providers left out.
    pub(crate) fn display_steps(&self) -> Vec<ResourceStep> {
        self.steps
            .iter()
            .filter(|s| !is_default_provider(&s.resource_type, &s.urn))
            .cloned()
            .collect()
    }

    /// The engine's totals when it reported them, otherwise counted from finished steps, or from
    /// planned steps when nothing finished (a preview cut short).
    pub fn counts(&self) -> ChangeCounts {
        if let Some(s) = &self.summary {
            return s.resource_changes.clone();
        }
        if !self.finished.is_empty() {
            return count_finished_steps(&self.finished, &self.refreshed_urns());
        }
        count_steps(&self.steps, &self.logical)
    }

    /// Whether `counts()` are the engine's own.
    pub fn counts_from_engine(&self) -> bool {
        self.summary.is_some()
    }

    /// Diagnostics, errors first.
    pub(crate) fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut d = self.diags.clone();
        for e in &self.errors {
            d.push(Diagnostic {
                severity: Severity::Error,
                message: e.clone(),
                urn: None,
            });
        }
        sort_diagnostics(&mut d);
        d
    }

    /// Error-severity diagnostics and `errorEvent`s.
    pub(crate) fn error_messages(&self) -> Vec<String> {
        self.diagnostics()
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| match &d.urn {
                Some(urn) => format!("{}: {}", ResourceStep::name_from_urn(urn), d.message),
                None => d.message,
            })
            .collect()
    }

    pub(crate) fn duration(&self) -> Duration {
        if let Some(s) = &self.summary {
            return Duration::from_secs(s.duration_seconds.max(0) as u64);
        }
        match (self.first_timestamp, self.last_timestamp) {
            (Some(a), Some(b)) if b > a => Duration::from_secs((b - a) as u64),
            _ => Duration::ZERO,
        }
    }

    /// The run's result: the summary's `result`, or for older CLIs `failed` when there were
    /// errors or failed steps, else `succeeded`. `None` without a summary.
    pub(crate) fn result(&self) -> Option<String> {
        let s = self.summary.as_ref()?;
        if let Some(r) = &s.result {
            return Some(r.clone());
        }
        let failed = !self.failed.is_empty() || self.diags.iter().any(|d| d.severity == Severity::Error);
        Some(if failed { "failed" } else { "succeeded" }.to_string())
    }

    /// Whether the engine reported a cancellation (`result: canceled`, or the `update canceled`
    /// error a first SIGINT produces).
    pub(crate) fn was_cancelled(&self) -> bool {
        self.summary.as_ref().and_then(|s| s.result.as_deref()) == Some("canceled")
            || self
                .diags
                .iter()
                .any(|d| d.severity == Severity::Error && d.message.contains("update canceled"))
            || self.errors.iter().any(|e| e.contains("update canceled"))
    }

    /// The stack name from the first URN in the stream.
    pub(crate) fn stack(&self) -> Option<String> {
        self.steps
            .iter()
            .map(|s| s.urn.as_str())
            .chain(self.finished.iter().map(|m| m.urn.as_str()))
            .find_map(stack_from_urn)
    }

    pub(crate) fn to_preview(&self) -> StackPreview {
        StackPreview {
            steps: self.display_steps(),
            counts: self.counts(),
            diagnostics: self.diagnostics(),
            duration_ms: self.duration().as_millis() as u64,
        }
    }

    pub(crate) fn to_apply(&self, outputs: Value) -> StackApply {
        StackApply {
            counts: self.counts(),
            diagnostics: self.diagnostics(),
            duration_ms: self.duration().as_millis() as u64,
            outputs,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `pulumi preview --json`

/// The document `pulumi preview --json` prints at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewDocument {
    #[serde(default)]
    pub config: Map<String, Value>,
    #[serde(default)]
    pub steps: Vec<PreviewStep>,
    #[serde(default)]
    pub diagnostics: Vec<PreviewDiagnostic>,
    /// Nanoseconds.
    #[serde(default)]
    pub duration: i64,
    #[serde(default)]
    pub change_summary: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maybe_corrupt: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewStep {
    pub op: StepOp,
    pub urn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_reasons: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_reasons: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_diff: Option<BTreeMap<String, super::events::PropertyDiff>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PreviewDiagnostic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub severity: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PreviewDocument {
    /// Steps for people (default providers left out; the document already hides `same`).
    pub(crate) fn display_steps(&self) -> Vec<ResourceStep> {
        self.steps
            .iter()
            .map(|s| {
                let resource_type = s
                    .new_state
                    .as_ref()
                    .or(s.old_state.as_ref())
                    .map(|st| st.resource_type.clone())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| type_from_urn(&s.urn));
                ResourceStep {
                    urn: s.urn.clone(),
                    name: ResourceStep::name_from_urn(&s.urn),
                    resource_type,
                    op: s.op.clone(),
                    inputs: s.new_state.as_ref().map(|st| Value::Object(st.inputs.clone())),
                    old_inputs: s.old_state.as_ref().map(|st| Value::Object(st.inputs.clone())),
                }
            })
            .filter(|s| !is_default_provider(&s.resource_type, &s.urn))
            .collect()
    }

    pub(crate) fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut d: Vec<Diagnostic> = self
            .diagnostics
            .iter()
            .map(|d| Diagnostic {
                severity: severity_from(&d.severity),
                message: strip_colors(&d.message),
                urn: d.urn.clone(),
            })
            .filter(|d| d.severity != Severity::Debug && !d.message.is_empty())
            .collect();
        sort_diagnostics(&mut d);
        d
    }

    pub(crate) fn to_preview(&self) -> StackPreview {
        let counts = if self.change_summary.is_empty() && !self.steps.is_empty() {
            let steps = self.display_steps();
            count_steps(&steps, &vec![true; steps.len()])
        } else {
            self.change_summary.clone()
        };
        StackPreview {
            steps: self.display_steps(),
            counts,
            diagnostics: self.diagnostics(),
            duration_ms: (self.duration.max(0) / 1_000_000) as u64,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `cloud plan show`

/// One stack of a plan as `cloud plan show` presents it.
#[derive(Debug, Clone, PartialEq)]
pub struct StackPlan {
    /// From the URNs (`None` when the stream has no resources).
    pub stack: Option<String>,
    pub preview: StackPreview,
    pub failed: Vec<FailedStep>,
    pub counts_from_engine: bool,
    /// The run's result when the stream recorded one.
    pub result: Option<String>,
}

/// An entry of `errors` in `cloud plan show --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlanError {
    /// `diagnostic` or `failed-step`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    pub message: String,
}

/// What `cloud plan show --event-log FILE` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanShow {
    pub stacks: Vec<StackPlan>,
    pub skipped: Vec<SkippedInput>,
    pub truncated: Option<Truncated>,
}

/// Why `plan show` has nothing to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanShowError {
    #[error("the input is empty: pass a file written by `pulumi preview --event-log` or `pulumi preview --json`")]
    Empty,
    #[error("no engine events found in the input ({skipped} non-event line(s) skipped{}); expected a `pulumi … --event-log` file or a `pulumi preview --json` document", first.as_deref().map(|f| format!(", first: `{f}`")).unwrap_or_default())]
    NoEvents { skipped: usize, first: Option<String> },
}

/// Read an event log (JSON lines or pretty-printed objects, possibly several stacks one after
/// another — each `preludeEvent` starts a stack) or a `preview --json` document.
pub fn plan_show(input: &str) -> Result<PlanShow, PlanShowError> {
    if input.trim().is_empty() {
        return Err(PlanShowError::Empty);
    }
    // A preview document is one object with `steps`/`changeSummary` and no `<kind>Event`.
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(input) {
        let is_doc = (obj.contains_key("steps") || obj.contains_key("changeSummary"))
            && !obj.keys().any(|k| k.ends_with("Event"));
        if is_doc {
            if let Ok(doc) = serde_json::from_value::<PreviewDocument>(Value::Object(obj)) {
                let preview = doc.to_preview();
                let stack = doc.steps.iter().find_map(|s| stack_from_urn(&s.urn));
                return Ok(PlanShow {
                    stacks: vec![StackPlan {
                        stack,
                        failed: vec![],
                        counts_from_engine: !doc.change_summary.is_empty(),
                        result: None,
                        preview,
                    }],
                    skipped: vec![],
                    truncated: None,
                });
            }
        }
    }
    let parsed = parse_stream(input);
    if parsed.events.is_empty() {
        return Err(PlanShowError::NoEvents {
            skipped: parsed.skipped.len(),
            first: parsed.skipped.first().map(|s| s.text.chars().take(60).collect()),
        });
    }
    let mut segments: Vec<StreamSummary> = vec![];
    let mut current = StreamSummary::default();
    // Events before a stack's prelude (Pulumi sends `policyLoadEvent` first) belong to it: only a
    // second prelude starts the next stack.
    let mut current_has_prelude = false;
    for ev in &parsed.events {
        if matches!(ev.kind, EventKind::Prelude(_)) {
            if current_has_prelude {
                segments.push(std::mem::take(&mut current));
            }
            current_has_prelude = true;
        }
        current.push(ev);
    }
    if current.events > 0 {
        segments.push(current);
    }
    let stacks = segments
        .into_iter()
        .map(|s| StackPlan {
            stack: s.stack(),
            preview: s.to_preview(),
            failed: s.failed.clone(),
            counts_from_engine: s.counts_from_engine(),
            result: s.result(),
        })
        .collect();
    Ok(PlanShow {
        stacks,
        skipped: parsed.skipped,
        truncated: parsed.truncated,
    })
}

/// The shared plan text (the chat's plan at PLAN_READY renders with the same functions).
pub(crate) use cloud_domain::plan_text::{counts_line, step_line};

impl PlanShow {
    /// Counts summed over every stack.
    pub fn total_counts(&self) -> ChangeCounts {
        let mut total = ChangeCounts::new();
        for s in &self.stacks {
            for (op, n) in &s.preview.counts {
                *total.entry(op.clone()).or_default() += n;
            }
        }
        total
    }

    /// Error diagnostics and failed steps, all stacks.
    pub(crate) fn errors(&self) -> Vec<PlanError> {
        let mut out = vec![];
        for s in &self.stacks {
            for d in s.preview.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                out.push(PlanError {
                    kind: "diagnostic".into(),
                    stack: s.stack.clone(),
                    urn: d.urn.clone(),
                    resource_type: d.urn.as_deref().map(type_from_urn),
                    op: None,
                    message: d.message.clone(),
                });
            }
            for f in &s.failed {
                out.push(PlanError {
                    kind: "failed-step".into(),
                    stack: s.stack.clone(),
                    urn: Some(f.urn.clone()),
                    resource_type: Some(f.resource_type.clone()),
                    op: Some(f.op.to_string()),
                    message: format!(
                        "{} of {} ({}) failed",
                        f.op,
                        ResourceStep::name_from_urn(&f.urn),
                        f.resource_type
                    ),
                });
            }
        }
        out
    }

    /// `{"steps":[{"urn","type","op"}…], "counts":{op: n}, "errors":[…], "stacks":[…]}`.
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .stacks
            .iter()
            .flat_map(|s| s.preview.steps.iter())
            .map(|st| json!({"urn": st.urn, "type": st.resource_type, "op": st.op.as_str()}))
            .collect();
        let stacks: Vec<Value> = self
            .stacks
            .iter()
            .map(|s| {
                json!({
                    "stack": s.stack,
                    "counts": s.preview.counts,
                    "countsFromEngine": s.counts_from_engine,
                    "result": s.result,
                    "durationMs": s.preview.duration_ms,
                })
            })
            .collect();
        let mut v = json!({
            "steps": steps,
            "counts": self.total_counts(),
            "errors": self.errors(),
            "stacks": stacks,
        });
        if let Some(t) = &self.truncated {
            v["truncated"] = json!({"line": t.line});
        }
        if !self.skipped.is_empty() {
            v["skippedLines"] = json!(self.skipped.iter().map(|s| s.line).collect::<Vec<_>>());
        }
        v
    }

    /// Text for people: per stack the counts and changing steps, then totals, then diagnostics.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for s in &self.stacks {
            let name = s.stack.as_deref().unwrap_or("(unnamed stack)");
            let _ = writeln!(out, "Stack {name}: {}", counts_line(&s.preview.counts));
            if let Some(r) = &s.result {
                if r != "succeeded" {
                    let _ = writeln!(out, "  result: {r}");
                }
            }
            for st in s.preview.steps.iter().filter(|st| st.op != StepOp::Same) {
                let _ = writeln!(out, "  {}", step_line(&st.op, &st.name, &st.resource_type));
            }
            for f in &s.failed {
                let _ = writeln!(out, "  !! {} of {} failed", f.op, ResourceStep::name_from_urn(&f.urn));
            }
            for d in &s.preview.diagnostics {
                let sev = match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "info",
                    Severity::Infoerr => "info",
                    Severity::Debug => "debug",
                };
                let who = d
                    .urn
                    .as_deref()
                    .map(|u| format!(" [{}]", ResourceStep::name_from_urn(u)))
                    .unwrap_or_default();
                for (i, line) in d.message.lines().enumerate() {
                    if i == 0 {
                        let _ = writeln!(out, "  {sev}{who}: {line}");
                    } else {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
        }
        if self.stacks.len() > 1 {
            let _ = writeln!(
                out,
                "Total ({} stacks): {}",
                self.stacks.len(),
                counts_line(&self.total_counts())
            );
        }
        let errors = self.errors().len();
        if errors > 0 {
            let _ = writeln!(out, "{errors} error(s)");
        }
        if let Some(t) = &self.truncated {
            let _ = writeln!(
                out,
                "note: the event log ends with an incomplete event at line {} (the engine was cut off)",
                t.line
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(
                out,
                "note: {} line(s) that were not engine events were skipped",
                self.skipped.len()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: i64, kind: &str, payload: Value) -> String {
        let mut m = Map::new();
        m.insert("sequence".into(), json!(seq));
        m.insert("timestamp".into(), json!(100 + seq));
        m.insert(kind.into(), payload);
        serde_json::to_string(&Value::Object(m)).unwrap()
    }

    fn meta(op: &str, ty: &str, name: &str, logical: bool) -> Value {
        let urn = format!("urn:pulumi:dev::proj::{ty}::{name}");
        json!({"op": op, "urn": urn, "type": ty, "old": null,
               "new": {"type": ty, "urn": urn, "id": "", "parent": "", "inputs": {"k": name}, "outputs": {}, "provider": ""},
               "detailedDiff": null, "logical": logical, "provider": ""})
    }

    fn stream(with_summary: bool) -> String {
        let mut l = vec![line(0, "preludeEvent", json!({"config": {}}))];
        let mut seq = 1;
        for (op, ty, name, logical) in [
            ("create", "pulumi:providers:aws", "default_6_0_0", true),
            ("create", "aws:s3/bucket:Bucket", "logs", true),
            ("create-replacement", "aws:ec2/instance:Instance", "web", false),
            ("replace", "aws:ec2/instance:Instance", "web", true),
            ("delete-replaced", "aws:ec2/instance:Instance", "web", false),
            ("same", "pulumi:pulumi:Stack", "proj-dev", true),
        ] {
            l.push(line(
                seq,
                "resourcePreEvent",
                json!({"metadata": meta(op, ty, name, logical)}),
            ));
            l.push(line(
                seq + 1,
                "resOutputsEvent",
                json!({"metadata": meta(op, ty, name, logical)}),
            ));
            seq += 2;
        }
        l.push(line(
            seq,
            "diagnosticEvent",
            json!({"message": "<{%fg 3%}>careful<{%reset%}>\n", "color": "raw", "severity": "warning"}),
        ));
        l.push(line(seq + 1, "diagnosticEvent", json!({"urn": "urn:pulumi:dev::proj::aws:s3/bucket:Bucket::logs", "message": "bad bucket", "color": "raw", "severity": "error"})));
        l.push(line(
            seq + 2,
            "diagnosticEvent",
            json!({"message": "chatter", "color": "raw", "severity": "debug"}),
        ));
        if with_summary {
            l.push(line(seq + 3, "summaryEvent", json!({"maybeCorrupt": false, "durationSeconds": 7, "resourceChanges": {"create": 1, "replace": 1, "same": 1}, "PolicyPacks": {}, "result": "failed"})));
        }
        l.push(line(seq + 4, "cancelEvent", json!({})));
        l.join("\n") + "\n"
    }

    #[test]
    fn summary_prefers_the_engines_counts_and_sorts_errors_first() {
        let parsed = parse_stream(&stream(true));
        let s = StreamSummary::from_events(&parsed.events);
        assert_eq!(s.steps.len(), 6);
        assert_eq!(s.display_steps().len(), 5, "default provider hidden");
        assert!(s.counts_from_engine());
        assert_eq!(
            s.counts(),
            BTreeMap::from([("create".into(), 1), ("replace".into(), 1), ("same".into(), 1)])
        );
        let d = s.diagnostics();
        assert_eq!(d.len(), 2, "debug left out");
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[1].message, "careful", "color markup stripped");
        assert_eq!(s.duration(), Duration::from_secs(7));
        assert_eq!(s.result().as_deref(), Some("failed"));
        assert_eq!(s.stack().as_deref(), Some("dev"));
        assert_eq!(s.steps[1].inputs, Some(json!({"k": "logs"})));
    }

    #[test]
    fn without_a_summary_counts_follow_the_engines_rule() {
        let parsed = parse_stream(&stream(false));
        let s = StreamSummary::from_events(&parsed.events);
        assert!(!s.counts_from_engine());
        assert_eq!(
            s.counts(),
            BTreeMap::from([("create".into(), 1), ("replace".into(), 1), ("same".into(), 1)])
        );
        assert_eq!(s.result(), None);
    }

    #[test]
    fn plan_show_json_and_text() {
        let show = plan_show(&stream(true)).unwrap();
        let j = show.to_json();
        assert_eq!(j["counts"]["create"], 1);
        assert_eq!(j["steps"].as_array().unwrap().len(), 5);
        assert_eq!(
            j["steps"][0],
            json!({"urn": "urn:pulumi:dev::proj::aws:s3/bucket:Bucket::logs", "type": "aws:s3/bucket:Bucket", "op": "create"})
        );
        assert_eq!(j["errors"][0]["message"], "bad bucket");
        let text = show.render_text();
        assert!(
            text.contains("Stack dev: 1 to create, 1 to replace, 1 unchanged"),
            "{text}"
        );
        assert!(text.contains("error [logs]: bad bucket"), "{text}");
    }

    #[test]
    fn plan_show_splits_stacks_at_each_prelude_and_totals() {
        let two = stream(true) + &stream(true);
        let show = plan_show(&two).unwrap();
        assert_eq!(show.stacks.len(), 2);
        assert_eq!(show.total_counts()["create"], 2);
        assert!(show.render_text().contains("Total (2 stacks)"));
    }

    #[test]
    fn events_before_the_prelude_belong_to_its_stack() {
        let text = line(0, "policyLoadEvent", json!({})) + "\n" + &stream(true);
        let show = plan_show(&text).unwrap();
        assert_eq!(show.stacks.len(), 1, "{:?}", show.stacks);
        assert_eq!(show.stacks[0].stack.as_deref(), Some("dev"));
    }

    #[test]
    fn plan_show_reads_the_preview_json_document() {
        let doc = json!({
            "config": {},
            "steps": [
                {"op": "create", "urn": "urn:pulumi:dev::proj::aws:s3/bucket:Bucket::b",
                 "newState": {"type": "aws:s3/bucket:Bucket", "urn": "urn:pulumi:dev::proj::aws:s3/bucket:Bucket::b", "id": "", "parent": "", "inputs": {}, "outputs": {}, "provider": ""},
                 "detailedDiff": {"acl": {"kind": "update", "inputDiff": true}}},
                {"op": "replace", "urn": "urn:pulumi:dev::proj::comp$aws:ec2/instance:Instance::i"}
            ],
            "diagnostics": [{"message": "oops", "severity": "error"}],
            "duration": 2_500_000_000i64,
            "changeSummary": {"create": 1, "replace": 1, "same": 4}
        });
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let show = plan_show(&text).unwrap();
        let p = &show.stacks[0].preview;
        assert_eq!(p.duration_ms, 2500);
        assert_eq!(p.counts["same"], 4);
        assert_eq!(p.steps[1].resource_type, "aws:ec2/instance:Instance");
        assert_eq!(show.errors().len(), 1);
    }

    #[test]
    fn plan_show_explains_input_that_is_not_a_stream() {
        assert_eq!(plan_show("  \n"), Err(PlanShowError::Empty));
        let err = plan_show("hello\nworld\n").unwrap_err();
        assert!(err.to_string().contains("2 non-event line(s) skipped"), "{err}");
    }

    #[test]
    fn failed_steps_are_errors() {
        let mut s = stream(true);
        s.push_str(&line(
            99,
            "resOpFailedEvent",
            json!({"metadata": meta("update", "aws:s3/bucket:Bucket", "logs", true), "status": 2, "steps": 1}),
        ));
        let show = plan_show(&s).unwrap();
        let errs = show.errors();
        assert!(errs
            .iter()
            .any(|e| e.kind == "failed-step" && e.op.as_deref() == Some("update")));
    }

    #[test]
    fn color_markup_and_ansi_are_stripped() {
        assert_eq!(
            strip_colors("<{%fg 1%}>error: <{%reset%}>x\u{1b}[31my\u{1b}[0m\n"),
            "error: xy"
        );
        assert_eq!(strip_colors("a <{% unterminated"), "a <{% unterminated");
    }
}
